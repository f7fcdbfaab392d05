# The real server, from outside: the debug binary serving a throw-away database, for the scripts
# that check it with another tool (scim-conformance.sh, fuzz.sh). Sourced, not run:
#
#   source scripts/real-server.sh
#   real_server_venv target/x-venv "tool==1.2.3"  # the pinned tool, or skip (fail under CI=true)
#   real_server_scratch "$0" "$@"   # builds belong; runs the script again inside
#                                   # scripts/scratch-postgres.sh (returns there, not here)
#   real_server_migrate             # a free port, the settings, the migrations
#   "$REAL_SERVER_BIN" seed --demo  # ... whatever the CLI must do before serving
#   real_server_start               # serves; waits for /healthz; REAL_SERVER_URL
#   real_server_on_exit rm -f "$file"
#
# The server is stopped, and what was given to real_server_on_exit is done, when the script
# exits. The server logs to a file that is printed if it dies before it is ready.

REAL_SERVER_BIN=target/debug/belong
REAL_SERVER_CLEANUP=()
# What the calling script is called in its messages (fuzz, scim-conformance).
REAL_SERVER_NAME=$(basename "$0" .sh)

real_server_cleanup() {
    if [ -n "${REAL_SERVER_PID:-}" ]; then
        kill "$REAL_SERVER_PID" 2>/dev/null || true
        wait "$REAL_SERVER_PID" 2>/dev/null || true
    fi
    local command
    for command in "${REAL_SERVER_CLEANUP[@]}"; do
        eval "$command" || true
    done
}
trap real_server_cleanup EXIT

# Runs this command (quoted, as a word list) when the script exits, after stopping the server.
real_server_on_exit() {
    REAL_SERVER_CLEANUP+=("$(printf '%q ' "$@")")
}

# The tool cannot be had: under CI=true the script fails; elsewhere it is skipped (exits 0)
# with a warning that nothing was checked.
real_server_missing() {
    if [ "${CI:-}" = "true" ]; then
        echo "$REAL_SERVER_NAME: $1" >&2
        exit 1
    fi
    echo "" >&2
    echo "=====================================================================" >&2
    echo "$REAL_SERVER_NAME: SKIPPED, nothing was checked: $1" >&2
    echo "=====================================================================" >&2
    exit 0
}

# Installs the pinned requirements (pip's `name==version`, one word each) into the virtualenv
# `dir` (under target/, ignored) unless that virtualenv already has exactly them. Without
# Python, its venv module or PyPI: real_server_missing.
real_server_venv() {
    local venv=$1
    shift
    local stamp
    stamp="$venv/.installed-$(IFS=+; echo "$*")"
    if [ -f "$stamp" ]; then return 0; fi
    command -v python3 >/dev/null || real_server_missing "python3 is not installed"
    rm -rf "$venv"
    python3 -m venv "$venv" \
        || real_server_missing "python3 cannot make a virtualenv (apt-get install python3-venv)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" \
        || real_server_missing "$* could not be installed from PyPI"
    touch "$stamp"
}

# Outside the scratch cluster: build the binary and run the calling script again inside one.
real_server_scratch() {
    if [ -z "${BELONG_REAL_SERVER_SCRATCH:-}" ]; then
        # The query macros read the committed offline data, not the scratch database.
        SQLX_OFFLINE=true cargo build --quiet --bin belong
        BELONG_REAL_SERVER_SCRATCH=1 exec scripts/scratch-postgres.sh "$@"
    fi
}

# Settings for a server on a free port of the loopback interface, and the migrations.
real_server_migrate() {
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    export BELONG__SERVER__BIND="127.0.0.1:$port"
    export BELONG__SERVER__PUBLIC_URL="http://127.0.0.1:$port"
    export BELONG__AUTH__JWT_SECRET="real-server-test-signing-secret-0123456789"
    export BELONG__LOG__FILTER="${BELONG__LOG__FILTER:-warn}"
    REAL_SERVER_URL="http://127.0.0.1:$port"
    "$REAL_SERVER_BIN" migrate >/dev/null
}

# Starts `belong serve` and waits until it answers /healthz (at most 20 s).
real_server_start() {
    REAL_SERVER_LOG=$(mktemp /tmp/belong-real-server-XXXXXX.log)
    real_server_on_exit rm -f "$REAL_SERVER_LOG"
    "$REAL_SERVER_BIN" serve >"$REAL_SERVER_LOG" 2>&1 &
    REAL_SERVER_PID=$!
    local _
    for _ in $(seq 1 200); do
        if curl -fsS "$REAL_SERVER_URL/healthz" >/dev/null 2>&1; then return 0; fi
        if ! kill -0 "$REAL_SERVER_PID" 2>/dev/null; then
            cat "$REAL_SERVER_LOG" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "the server did not answer /healthz within 20 s" >&2
    cat "$REAL_SERVER_LOG" >&2
    return 1
}
