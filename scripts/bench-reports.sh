#!/usr/bin/env bash
# The HR report benchmark of docs/reports-performance.md: exports 1,000,000 membership rows
# (memberships.csv) from a release build and prints rows per second, time to first byte and to
# first data row, and the server's memory (VmRSS, VmHWM from /proc) before and during each
# export; then a client that hangs up after one second, and the two aggregate reports on the
# same data. It prints numbers; nothing asserts timings.
#
#   scripts/bench-reports.sh
#   BENCH_ROWS=200000 BENCH_RUNS=1 scripts/bench-reports.sh    # a quicker look
#
# Settings (environment, with defaults):
#   BENCH_ROWS=1000000       memberships, every one made public and active, so each is a row
#   BENCH_EMPLOYEES=250000   employees (about four memberships each)
#   BENCH_GROUPS=100         groups
#   BENCH_RUNS=3             full exports measured
#   BENCH_POOL=16            the server's pool (BELONG__DATABASE__MAX_CONNECTIONS)
#   BENCH_KEEP=1             keep the work folder (server log, samples)
set -euo pipefail
cd "$(dirname "$0")/.."

: "${BENCH_ROWS:=1000000}" "${BENCH_EMPLOYEES:=250000}" "${BENCH_GROUPS:=100}" "${BENCH_RUNS:=3}"
: "${BENCH_POOL:=16}"
export BENCH_ROWS BENCH_EMPLOYEES BENCH_GROUPS BENCH_RUNS BENCH_POOL

inside() {
    work=$BENCH_WORK
    say() { printf '\n--- %s (load average %s)\n' "$1" "$(cut -d' ' -f1-3 /proc/loadavg)"; }
    sql() { psql "$DATABASE_URL" -qAtX -v ON_ERROR_STOP=1 "$@"; }

    say "migrate and load $BENCH_ROWS memberships"
    BELONG__LOG__FILTER=warn "$work/belong" migrate >/dev/null
    SECONDS=0
    if "$work/belong" seed --help 2>/dev/null | grep -q -- --synthetic; then
        BELONG__LOG__FILTER=warn,sqlx=error "$work/belong" seed --synthetic --employees "$BENCH_EMPLOYEES" \
            --groups "$BENCH_GROUPS" --memberships "$BENCH_ROWS"
    else
        # No synthetic seeder in this build: the same shape, plainer.
        sql -v employees="$BENCH_EMPLOYEES" -v groups="$BENCH_GROUPS" -v rows="$BENCH_ROWS" <<'SQL'
INSERT INTO users (email, password_hash, display_name, department, location)
SELECT 'bench-' || lpad(i::text, 7, '0') || '@bench.example', 'not-a-hash', 'Bench Person ' || i,
       (ARRAY['Engineering', 'Finance', 'Nursing', 'Pharmacy', 'Radiology', 'Legal'])[1 + i % 6],
       (ARRAY['Lisbon', 'Oslo', 'Denver', 'Pune'])[1 + i % 4]
FROM generate_series(1, :employees) AS i;
INSERT INTO groups (slug, name, tagline, mission)
SELECT 'bench-' || lpad(g::text, 3, '0'), 'Bench group ' || g, 'A tagline', 'A mission.'
FROM generate_series(1, :groups) AS g;
INSERT INTO memberships (group_id, user_id, type, status, visibility, joined_at)
SELECT g.id, u.id, 'member', 'active', 'public', now() - (n % 1000) * interval '1 day'
FROM generate_series(0, :rows - 1) AS n
JOIN (SELECT id, row_number() OVER (ORDER BY slug) - 1 AS k FROM groups) g ON g.k = n % :groups
JOIN (SELECT id, row_number() OVER (ORDER BY email) - 1 AS k FROM users) u ON u.k = (n / :groups) % :employees;
SQL
    fi
    # Every membership public and active, so that the row-level export has one row for each.
    sql -c "UPDATE memberships SET visibility = 'public', status = 'active'" -c "VACUUM ANALYZE"
    rows_expected=$(sql -c "SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id JOIN groups g ON g.id = m.group_id
                            WHERE m.visibility = 'public' AND m.status = 'active' AND u.active AND g.archived_at IS NULL")
    printf 'loaded in %s s: %s rows to export, %s groups, %s employees\n' \
        "$SECONDS" "$rows_expected" \
        "$(sql -c 'SELECT count(*) FROM groups')" "$(sql -c 'SELECT count(*) FROM users')"

    password="bench-reports-password-$$"
    echo "$password" | BELONG__LOG__FILTER=warn "$work/belong" admin create --email bench-admin@bench.example \
        --display-name "Bench Admin" >/dev/null 2>&1

    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    url="http://127.0.0.1:$port"
    say "start belong serve on $url (pool $BENCH_POOL)"
    BELONG__SERVER__BIND="127.0.0.1:$port" \
    BELONG__DATABASE__MAX_CONNECTIONS="$BENCH_POOL" \
    BELONG__AUTH__JWT_SECRET="$(head -c 48 /dev/urandom | base64)" \
    BELONG__LOG__FILTER=info,sqlx=warn,tower_http=warn \
        "$work/belong" serve >"$work/server.log" 2>&1 &
    server=$!
    stop_server() {
        if [ -n "${server:-}" ] && kill -0 "$server" 2>/dev/null; then
            kill -TERM "$server" && wait "$server" || true
        fi
        server=""
    }
    trap stop_server EXIT
    for _ in $(seq 1 300); do
        curl -fsS "$url/readyz" >/dev/null 2>&1 && break
        kill -0 "$server" 2>/dev/null || { echo "belong serve stopped:"; cat "$work/server.log"; exit 1; }
        sleep 0.1
    done
    curl -fsS "$url/readyz" >/dev/null
    token=$(curl -fsS "$url/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"bench-admin@bench.example\",\"password\":\"$password\"}" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

    # Memory of the server process, in KiB: "VmRSS VmHWM".
    memory() {
        awk '/^VmRSS:/ {rss = $2} /^VmHWM:/ {hwm = $2} END {print rss, hwm}' "/proc/$server/status"
    }
    # Samples VmRSS every 10 ms (one process, no fork per sample) until $work/sampling
    # disappears, then writes the largest value seen to $1.
    sampler() {
        python3 - "$server" "$work/sampling" "$1" <<'PY'
import os, sys, time
pid, flag, out = sys.argv[1:4]
peak = 0
while os.path.exists(flag):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                peak = max(peak, int(line.split()[1]))
    time.sleep(0.01)
open(out, "w").write(f"{peak}\n")
PY
    }
    # CPU seconds the server process has used so far (user + system).
    cpu() {
        python3 -c "import os, sys; f = open('/proc/$server/stat').read().rsplit(')', 1)[1].split(); \
print((int(f[11]) + int(f[12])) / os.sysconf('SC_CLK_TCK'))"
    }
    mib() { python3 -c "print(f'{$1 / 1024:.1f}')"; }
    last_audit() {
        sql -c "SELECT details->>'rows', details->>'completed' FROM audit_log
                WHERE action = 'report.downloaded' ORDER BY id DESC LIMIT 1" | tr '|' ' '
    }

    read -r rss_start hwm_start < <(memory)
    echo "server memory when ready, before any report: RSS $(mib "$rss_start") MiB, VmHWM $(mib "$hwm_start") MiB"

    say "warm-up: one export of the smallest group, and each aggregate report"
    small=$(sql -c "SELECT g.slug FROM groups g JOIN memberships m ON m.group_id = g.id GROUP BY g.slug ORDER BY count(*) LIMIT 1")
    for path in "memberships.csv?group=$small" "groups.csv" "breakdown.csv?by=department"; do
        curl -fsS -o /dev/null -H "Authorization: Bearer $token" "$url/api/v1/reports/$path"
    done
    sleep 1

    results=$work/results
    : >"$results"
    for run in $(seq 1 "$BENCH_RUNS"); do
        say "run $run: GET /api/v1/reports/memberships.csv ($rows_expected rows)"
        read -r rss_before hwm_before < <(memory)
        cpu_before=$(cpu)
        touch "$work/sampling"
        sampler "$work/max_rss" &
        sampler_pid=$!
        curl -fsS -o /dev/null -H "Authorization: Bearer $token" \
            -w '%{time_starttransfer} %{time_total} %{size_download}\n' \
            "$url/api/v1/reports/memberships.csv" >"$work/curl.out"
        rm -f "$work/sampling"
        wait "$sampler_pid"
        read -r rss_after hwm_after < <(memory)
        cpu_after=$(cpu)
        read -r ttfb total bytes <"$work/curl.out"
        max_rss=$(cat "$work/max_rss")
        sleep 0.3
        read -r rows completed < <(last_audit)
        python3 - "$ttfb" "$total" "$bytes" "$rows" "$completed" "$rss_before" "$hwm_before" "$max_rss" "$hwm_after" "$rss_after" \
            "$cpu_before" "$cpu_after" <<'PY' | tee -a "$results"
import sys
ttfb, total, size = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
rows, completed = int(sys.argv[4]), sys.argv[5]
rss0, hwm0, peak, hwm1, rss1 = (int(x) / 1024 for x in sys.argv[6:11])
cpu = float(sys.argv[12]) - float(sys.argv[11])
print(f"rows {rows} (completed: {completed}), {size / 2**20:.1f} MiB in {total:.2f} s: "
      f"{rows / total:,.0f} rows/s, {size / 2**20 / total:.1f} MiB/s; time to first byte {ttfb * 1000:.1f} ms; "
      f"server CPU {cpu:.2f} s ({rows / cpu:,.0f} rows per CPU second)")
print(f"memory: RSS before {rss0:.1f} MiB, peak RSS during {peak:.1f} MiB (growth {peak - rss0:+.1f} MiB), "
      f"RSS after {rss1:.1f} MiB; VmHWM before {hwm0:.1f} MiB, after {hwm1:.1f} MiB (growth {hwm1 - hwm0:+.1f} MiB)")
PY
    done

    say "time to the first data row (a streaming reader)"
    python3 - "$url" "$token" <<'PY'
import http.client, sys, time, urllib.parse
url, token = urllib.parse.urlparse(sys.argv[1]), sys.argv[2]
conn = http.client.HTTPConnection(url.hostname, url.port)
start = time.monotonic()
conn.request("GET", "/api/v1/reports/memberships.csv", headers={"Authorization": f"Bearer {token}"})
response = conn.getresponse()
headers_at = time.monotonic() - start
seen, first_row_at, size = b"", None, 0
while True:
    chunk = response.read1(1 << 16)
    if not chunk:
        break
    size += len(chunk)
    if first_row_at is None:
        seen += chunk
        if seen.count(b"\r\n") >= 2:
            first_row_at = time.monotonic() - start
total = time.monotonic() - start
print(f"headers after {headers_at * 1000:.1f} ms, first data row after {first_row_at * 1000:.1f} ms, "
      f"{size / 2**20:.1f} MiB in {total:.2f} s (this reader is slower than curl)")
PY

    say "a client that hangs up after one second"
    read -r rss_before _ < <(memory)
    curl -sS -o /dev/null --max-time 1 -H "Authorization: Bearer $token" \
        -w 'received %{size_download} bytes before hanging up\n' "$url/api/v1/reports/memberships.csv" || true
    for _ in $(seq 1 50); do
        running=$(sql -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%m.visibility = ''public''%'
                          AND state <> 'idle' AND pid <> pg_backend_pid()")
        [ "$running" = 0 ] && break
        sleep 0.1
    done
    sleep 0.3
    read -r rows completed < <(last_audit)
    read -r rss_after _ < <(memory)
    echo "audit record: rows $rows, completed $completed; the report's query still running: $running;" \
        "RSS $(mib "$rss_before") MiB before, $(mib "$rss_after") MiB after"

    say "the aggregate reports on the same data"
    for path in "groups.csv" "breakdown.csv?by=department" "breakdown.csv?by=location"; do
        curl -fsS -o /dev/null -H "Authorization: Bearer $token" \
            -w "$path: %{http_code}, %{size_download} bytes in %{time_total} s\n" "$url/api/v1/reports/$path"
    done

    say "the plan of the row-level export, for the largest group (one such query per group)"
    largest=$(sql -c "SELECT group_id FROM memberships GROUP BY group_id ORDER BY count(*) DESC LIMIT 1")
    sql -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF)
            SELECT u.email, u.display_name, u.department, u.location, m.type, m.role, m.joined_at
            FROM memberships m JOIN users u ON u.id = m.user_id
            WHERE m.group_id = '$largest' AND m.visibility = 'public' AND m.status = 'active' AND u.active
            ORDER BY u.display_name, u.id"
    stop_server
    echo
    echo "machine: $(nproc) cores, $(free -m | awk '/Mem:/ {print $2}') MiB; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
}

if [ "${1:-}" = "--inside" ]; then
    inside
    exit 0
fi

echo "--- build (release)"
# With DATABASE_URL set, the query macros check against that database; otherwise against .sqlx/.
[ -n "${DATABASE_URL:-}" ] || export SQLX_OFFLINE=true
cargo build --release --bin belong
BENCH_WORK=$(mktemp -d /tmp/belong-bench-reports-XXXXXX)
export BENCH_WORK
cleanup() {
    if [ "${BENCH_KEEP:-}" = 1 ]; then echo "work folder kept: $BENCH_WORK"; else rm -rf "$BENCH_WORK"; fi
}
trap cleanup EXIT
# A copy, so that a rebuild in this tree during the run cannot change what is measured.
cp target/release/belong "$BENCH_WORK/belong"
chmod -R a+rX "$BENCH_WORK"
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
scripts/scratch-postgres.sh "$0" --inside
