#!/usr/bin/env bash
# Every journey of docs/performance.md, end to end, in one command: builds release, starts a
# throw-away PostgreSQL cluster, loads the synthetic organisation, and runs the load tool
# (benches/load/). The tool starts `belong serve` itself (to time its start and read its
# memory), drives each journey, runs pgbench with the statements the directory and the group
# page ran, and prints a table per journey and a summary against the targets. It prints
# numbers; nothing asserts timings.
#
#   scripts/bench.sh                                    # every journey, 30 s phases
#   scripts/bench.sh --duration 3 --export-runs 1       # a smoke run (a few minutes)
#   scripts/bench.sh directory,group --scale 10         # two journeys, 2,000,000 memberships
#
# Options of this script:
#   --scale N        N × 200,000 memberships (10: 2,000,000); 50,000 employees and 100 groups
#   --employees N, --groups N, --memberships N   the organisation's sizes, one by one
#   --sql SQL        run with psql after loading, before serving: to try an index or a setting
#                    without touching the code, e.g. "ALTER DATABASE belong SET jit = off"
#   --keep           keep the work folder (server log, pgbench scripts and logs, the output)
# Everything else goes to the load tool: the journeys (`all`, the default, or a list such as
# `directory,group`), --duration SECS (30), --warmup SECS (3), --connections N (64),
# --users N (200), --pool N (16), --storm-rate N (40), --rsvp-capacity N, --export-rows N
# (1000000), --export-runs N (3), --ready-runs N (3). docs/performance.md describes each.
set -euo pipefail
cd "$(dirname "$0")/.."

inside() {
    work=$BENCH_WORK
    say() { printf '\n--- %s (load average %s; %s)\n' "$1" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(others)"; }
    # The load average counts this benchmark's own processes too; compilers running are a
    # better sign of what else the machine is doing.
    others() {
        ps -eo pcpu=,comm= | awk '$2 ~ /^(rustc|cargo|cc|ld|clang|rust-analyzer)/ || ($1 > 20 && $2 !~ /^(postgres|belong|load|pgbench)/) {n++; cpu += $1}
            END {printf "other busy processes: %d, %.0f%% CPU", n, cpu}'
    }
    say "migrate and load the synthetic organisation ($BENCH_EMPLOYEES employees, $BENCH_GROUPS groups, $BENCH_MEMBERSHIPS memberships)"
    export BELONG__LOG__FILTER=warn,sqlx=error
    SECONDS=0
    "$work/belong" migrate >/dev/null
    "$work/belong" seed --synthetic --employees "$BENCH_EMPLOYEES" --groups "$BENCH_GROUPS" \
        --memberships "$BENCH_MEMBERSHIPS"
    echo "loaded in $SECONDS s"
    unset BELONG__LOG__FILTER
    if [ -n "$BENCH_SQL" ]; then
        say "--sql: $BENCH_SQL"
        psql -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "$BENCH_SQL"
    fi
    say "the load tool"
    "$work/load" "$@" --serve "$work/belong" --database-url "$DATABASE_URL" \
        --pg-log "$SCRATCH_PG_LOG" --sqlx-dir "$work/sqlx" --work "$work" 2>&1 | tee "$work/load.out"
    echo
    echo "machine: $(nproc) cores, $(free -m | awk '/Mem:/ {print $2}') MiB; load average now $(cut -d' ' -f1-3 /proc/loadavg); $(others)"
}

# Inside the throw-away cluster (scripts/scratch-postgres.sh runs this script again): the
# settings come from the environment, the arguments are the load tool's.
if [ "${1:-}" = "--inside" ]; then
    shift
    inside "$@"
    exit 0
fi

employees=50000 groups=100 memberships=200000 sql="" keep=0
tool_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) memberships=$((200000 * $2)); shift 2 ;;
        --employees) employees=$2; shift 2 ;;
        --groups) groups=$2; shift 2 ;;
        --memberships) memberships=$2; shift 2 ;;
        --sql) sql=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) tool_args+=("$1"); shift ;;
    esac
done
export BENCH_EMPLOYEES=$employees BENCH_GROUPS=$groups BENCH_MEMBERSHIPS=$memberships BENCH_SQL=$sql

echo "--- build (release)"
export SQLX_OFFLINE=true
artifact() { # target name, cargo arguments...; prints the executable built for that target
    local name=$1
    shift
    cargo "$@" --message-format=json-render-diagnostics | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == sys.argv[1]:
        print(m["executable"])' "$name" | tail -1
}
belong_exe=$(artifact belong build --release --bin belong)
load_exe=$(artifact load bench --no-run --bench load)
[ -x "$belong_exe" ] && [ -x "$load_exe" ] || { echo "the build did not produce belong and the load tool" >&2; exit 1; }
BENCH_WORK=$(mktemp -d /tmp/belong-bench-XXXXXX)
export BENCH_WORK
cleanup() {
    if [ "$keep" = 1 ]; then echo "work folder kept: $BENCH_WORK"; else rm -rf "$BENCH_WORK"; fi
}
trap cleanup EXIT
# Copies, so that a rebuild (or a checkout) in this tree during the run cannot change what is
# measured; .sqlx/ is the query text the build was checked against.
cp "$belong_exe" "$BENCH_WORK/belong"
cp "$load_exe" "$BENCH_WORK/load"
cp -r .sqlx "$BENCH_WORK/sqlx"
chmod -R a+rwX "$BENCH_WORK"
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
scripts/scratch-postgres.sh "$0" --inside "${tool_args[@]}"
