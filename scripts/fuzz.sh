#!/usr/bin/env bash
# Fuzzing against the contract: schemathesis (pinned, installed into an ignored virtualenv
# under target/) against the real server on a throw-away database loaded with the demo data,
# using the OpenAPI document the server serves (/api/openapi.json), with every check, once for
# each role (an employee in no group, a member, a lead, HR, an admin), a fixed seed and a
# bounded number of cases, inside a timeout. Any failure of a check fails; so does a run whose
# token was refused or never served (scripts/fuzz_hooks.py). docs/guarantees.md says what it
# covers and what it leaves out.
# Without Python or PyPI it is skipped with a warning, except under CI=true, where a missing
# tool fails.
#   scripts/fuzz.sh                 (builds the debug binary if needed)
#   FUZZ_ROLES="admin" scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
SEED=20240611
# Per role: the whole run of schemathesis, at most.
ROLE_TIMEOUT_SECS=150
venv=target/fuzz-venv

source scripts/real-server.sh
real_server_venv "$venv" "schemathesis==$SCHEMATHESIS_VERSION"
real_server_scratch "$0" "$@"
real_server_migrate
"$REAL_SERVER_BIN" seed --demo >/dev/null
real_server_start

api="$REAL_SERVER_URL/api/v1"
password=belong-demo-password
# Each role's output of schemathesis and its calls stay there for a look after the run.
work=target/fuzz-report
rm -rf "$work"
mkdir -p "$work"

# An employee in no group has no demo account: it registers, as anyone may.
curl -fsS "$api/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"nobody@belong.example\",\"password\":\"$password\",\"display_name\":\"Noa Nobody\"}" >/dev/null

field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
sign_in() {
    curl -fsS "$api/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"$1\",\"password\":\"$password\"}" | field access_token
}

roles=(employee member lead hr admin)
declare -A email=(
    [employee]=nobody@belong.example
    [member]=employee@belong.example
    [lead]=lead@belong.example
    [hr]=hr@belong.example
    [admin]=admin@belong.example
)
declare -A token
ids=()
for role in "${roles[@]}"; do
    token[$role]=$(sign_in "${email[$role]}")
    ids+=("$(curl -fsS "$api/me" -H "Authorization: Bearer ${token[$role]}" | field id)")
done
export FUZZ_PROTECTED_IDS
FUZZ_PROTECTED_IDS=$(IFS=,; echo "${ids[*]}")

# The admin runs last: its writes (archiving groups, closing offers) change the most for others.
failed=0
started=$SECONDS
for role in ${FUZZ_ROLES:-${roles[*]}}; do
    echo "--- fuzz as $role (${email[$role]})"
    calls="$work/$role.calls"
    : >"$calls"
    code=0
    FUZZ_TOKEN=${token[$role]} FUZZ_CALLS=$calls \
        timeout --kill-after=10 "$ROLE_TIMEOUT_SECS" \
        "$venv/bin/schemathesis" --config-file scripts/fuzz.toml --no-color run \
        "$REAL_SERVER_URL/api/openapi.json" --url "$REAL_SERVER_URL" \
        --checks all --seed "$SEED" --output-sanitize true \
        >"$work/$role.out" 2>&1 || code=$?
    # The summary (statistics, failures, warnings), not every operation's line.
    sed -n '/^=* SUMMARY =*$/,$p' "$work/$role.out"
    if [ "$code" -eq 124 ] || [ "$code" -eq 137 ]; then
        tail -n 40 "$work/$role.out"
        echo "fuzz $role: FAILED: not done within $ROLE_TIMEOUT_SECS s" >&2
        failed=1
    elif [ "$code" -ne 0 ]; then
        grep -q SUMMARY "$work/$role.out" || cat "$work/$role.out"
        echo "fuzz $role: FAILED: schemathesis exited $code" >&2
        failed=1
    fi
    "$venv/bin/python" scripts/fuzz_hooks.py verdict "$calls" "$role" || failed=1
    # The token still works: nothing in the run signed the role out or took its account away.
    curl -fsS -o /dev/null "$api/me" -H "Authorization: Bearer ${token[$role]}" \
        || { echo "fuzz $role: FAILED: the role's token no longer works" >&2; failed=1; }
done
if grep -q "panicked" "$REAL_SERVER_LOG"; then
    grep -B2 -A10 "panicked" "$REAL_SERVER_LOG" >&2
    echo "fuzz: FAILED: the server panicked" >&2
    failed=1
fi
echo "fuzz: $((SECONDS - started)) s for ${FUZZ_ROLES:-${roles[*]}}"
if [ "$failed" -ne 0 ]; then
    echo "fuzz: FAILED" >&2
    exit 1
fi
echo "fuzz: passed"
