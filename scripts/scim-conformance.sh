#!/usr/bin/env bash
# SCIM 2.0 conformance: runs scim2-tester (`scim2 test`, from the pinned scim2-cli) against the
# real server on a throw-away database, and fails on any check that does not succeed. The tools
# are installed into an ignored virtualenv under target/. Without Python or PyPI the check is
# skipped with a warning, except under CI=true, where a missing tool fails.
#   scripts/scim-conformance.sh            (builds the debug binary if needed)
set -euo pipefail
cd "$(dirname "$0")/.."

SCIM2_CLI_VERSION=0.6.0
SCIM2_TESTER_VERSION=0.5.2
venv=target/scim-venv

source scripts/real-server.sh
real_server_venv "$venv" "scim2-cli==$SCIM2_CLI_VERSION" "scim2-tester==$SCIM2_TESTER_VERSION"
real_server_scratch "$0" "$@"
real_server_migrate
token=$("$REAL_SERVER_BIN" scim-token create --name scim2-tester 2>/dev/null)
real_server_start

# The token goes through the environment, not the command line (which others can read).
export SCIM_CLI_HEADERS="Authorization: Bearer $token"
out=$(mktemp /tmp/belong-scim-out-XXXXXX)
real_server_on_exit rm -f "$out"
# `scim2 test` also exits non-zero for checks it skips, such as a search across every resource
# type (`POST /.search`, answered 501 here: there is one resource type). So the verdict is ours:
# no check may answer anything but SUCCESS or SKIPPED, and the checks must have run.
"$venv/bin/scim2" --url "$REAL_SERVER_URL/scim/v2" test "$@" >"$out" 2>&1 || true
cat "$out"
passed=$(grep -c '^SUCCESS ' "$out" || true)
failed=$(grep -E '^[A-Z]+ ' "$out" | grep -cvE '^(SUCCESS|SKIPPED) ' || true)
skipped=$(grep -c '^SKIPPED ' "$out" || true)
echo "scim2-tester: $passed succeeded, $skipped skipped, $failed failed"
if [ "$failed" -ne 0 ] || [ "$passed" -lt 40 ]; then
    echo "scim-conformance: FAILED" >&2
    exit 1
fi
