#!/usr/bin/env bash
# The benchmarks of docs/performance.md, end to end: builds release, starts a throw-away
# PostgreSQL cluster, loads the synthetic organisation, starts `belong serve`, runs the load
# tool's scenarios (benches/load.rs), then pgbench with the directory's list query, and prints
# the figures side by side. Nothing asserts timings: it prints numbers.
#
#   scripts/bench.sh
#   BENCH_DURATION=10 scripts/bench.sh          # shorter phases
#
# Settings (environment, with defaults):
#   BENCH_DURATION=30        seconds per measured phase (each has a short warm-up before it)
#   BENCH_CONCURRENCY=64     connections for the groups scenario and for pgbench
#   BENCH_USERS=200          synthetic employees signed in by the groups scenario
#   BENCH_POOL=16            the server's pool (BELONG__DATABASE__MAX_CONNECTIONS)
#   BENCH_EMPLOYEES=50000 BENCH_GROUPS=100 BENCH_MEMBERSHIPS=200000   the organisation
#   BENCH_SCENARIOS="signin groups"   which scenarios of the load tool to run
#   BENCH_PGBENCH=1          0 skips pgbench (it runs only with the groups scenario)
#   BENCH_SQL=""             SQL run (psql) after loading, before serving, to try a change
#                            without touching the code, for example
#                            "ALTER DATABASE belong SET plan_cache_mode = force_custom_plan"
#   BENCH_KEEP=1             keep the logs folder (server log, pgbench script and logs)
set -euo pipefail
cd "$(dirname "$0")/.."

: "${BENCH_DURATION:=30}" "${BENCH_CONCURRENCY:=64}" "${BENCH_USERS:=200}" "${BENCH_POOL:=16}"
: "${BENCH_EMPLOYEES:=50000}" "${BENCH_GROUPS:=100}" "${BENCH_MEMBERSHIPS:=200000}"
: "${BENCH_SCENARIOS:=signin groups}"
export BENCH_DURATION BENCH_CONCURRENCY BENCH_USERS BENCH_POOL BENCH_EMPLOYEES BENCH_GROUPS \
    BENCH_MEMBERSHIPS BENCH_SCENARIOS

# The SQL of `directory::list` in src/groups/directory.rs, copied as it is there. The pgbench
# script below is made from it; the run warns when the code's query no longer matches it.
read -r -d '' LIST_SQL <<'SQL' || true
WITH ranked AS (
               SELECT g.id, g.slug, g.name, g.tagline, g.join_policy, g.privacy_notice, g.privacy_notice_version,
                      CASE WHEN $3::text IS NULL THEN 0::real
                           ELSE ts_rank(g.search, to_tsquery('english', $3)) END AS rank
               FROM groups g
               WHERE g.archived_at IS NULL
                 AND ($3::text IS NULL OR g.search @@ to_tsquery('english', $3))
           ),
           -- The page is chosen first, so that the counts below are computed for its groups
           -- only (a generic plan would otherwise count every group before sorting).
           page AS MATERIALIZED (
               SELECT * FROM ranked g
               WHERE $4::real IS NULL
                  OR g.rank < $4
                  OR (g.rank = $4 AND (g.name, g.slug) > ($5::text, $6::text))
               ORDER BY g.rank DESC, g.name, g.slug
               LIMIT $7
           )
           SELECT g.slug, g.name, g.tagline, g.join_policy AS "join_policy: JoinPolicy",
                  g.rank AS "rank!",
                  mm.type AS "my_type?: MembershipType", mm.role AS "my_role?: MembershipRole",
                  mm.status AS "my_status?: MembershipStatus", mm.visibility AS "my_visibility?: Visibility",
                  consent_outdated(g.privacy_notice, g.privacy_notice_version, mm.consent_version) AS "my_consent_outdated?",
                  counts.members AS "member_count!", counts.allies AS "ally_count!",
                  coalesce((SELECT json_agg(json_build_object('id', u.id, 'display_name', u.display_name)
                                            ORDER BY u.display_name, u.id)
                            FROM memberships l JOIN users u ON u.id = l.user_id
                            WHERE l.group_id = g.id AND l.role = 'lead' AND l.status = 'active'),
                           '[]') AS "leads!: PgJson<Vec<LeadRef>>"
           FROM page g
           LEFT JOIN memberships mm ON mm.group_id = g.id AND mm.user_id = $1
           CROSS JOIN LATERAL (
               SELECT count(*) FILTER (WHERE c.type = 'member') AS members,
                      count(*) FILTER (WHERE c.type = 'ally') AS allies
               FROM memberships c
               WHERE c.group_id = g.id AND c.status = 'active'
                 AND membership_visible(c.user_id, c.status, c.visibility, $1, $2, mm.role, mm.status, mm.type, mm.visibility)
           ) counts
           ORDER BY g.rank DESC, g.name, g.slug
SQL
export LIST_SQL

inside() {
    work=$BENCH_WORK
    # The load average counts this benchmark's own processes too; compilers running are a
    # better sign of what else the machine is doing.
    say() {
        printf '\n--- %s (load average %s; other processes: %s)\n' "$1" \
            "$(cut -d' ' -f1-3 /proc/loadavg)" "$(others)"
    }
    others() {
        ps -eo pcpu=,comm= | awk '$2 ~ /^(rustc|cargo|cc|ld|clang|rust-analyzer)/ || ($1 > 20 && $2 !~ /^(postgres|belong|load|pgbench)/) {n++; cpu += $1} END {printf "%d busy, %.0f%% CPU", n, cpu}'
    }
    export BELONG__LOG__FORMAT=json

    say "migrate and load the synthetic organisation"
    "$work/belong" migrate
    BELONG__LOG__FILTER=warn,sqlx=error "$work/belong" seed --synthetic --employees "$BENCH_EMPLOYEES" --groups "$BENCH_GROUPS" \
        --memberships "$BENCH_MEMBERSHIPS"
    if [ -n "${BENCH_SQL:-}" ]; then
        say "BENCH_SQL: $BENCH_SQL"
        psql -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "$BENCH_SQL"
    fi

    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    url="http://127.0.0.1:$port"
    say "start belong serve on $url (pool $BENCH_POOL)"
    BELONG__SERVER__BIND="127.0.0.1:$port" \
    BELONG__DATABASE__MAX_CONNECTIONS="$BENCH_POOL" \
    BELONG__AUTH__JWT_SECRET="$(head -c 48 /dev/urandom | base64)" \
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

    : >"$work/load.out"
    for scenario in $BENCH_SCENARIOS; do
        say "load tool: $scenario"
        "$work/load" "$scenario" --url "$url" | tee -a "$work/load.out"
    done
    stop_server
    case " $BENCH_SCENARIOS " in
        *" groups "*) [ "${BENCH_PGBENCH:-1}" = 1 ] || return 0 ;;
        *) return 0 ;; # pgbench compares with the groups scenario's list
    esac
    # Join/leave left dead rows in memberships; the HTTP list ran before them, so let pgbench
    # see the table in the same state.
    psql -q "$DATABASE_URL" -c "VACUUM (ANALYZE) memberships, membership_history, refresh_tokens, login_failures"

    # Two pgbench scripts from the copy: "bound" passes the parameters as bound values, as sqlx
    # does (so PostgreSQL may switch to a generic plan after five executions, as it does for
    # the server); "literal" writes their values into the SQL (custom plans, constants folded).
    python3 - "$work" <<'PY'
import os, re, sys
sql = os.environ["LIST_SQL"].strip()
# The caller is a random synthetic employee; its id is fetched first (\gset) so that the list
# query gets it as a plain uuid parameter, as from the server.
variants = {
    "bound": {
        "1": ":uid",                                        # a random synthetic employee
        "2": "(:is_admin)::boolean",                        # false
        "3": "(NULLIF(:zero, 0)::text)",                    # NULL: no search
        "4": "(NULLIF(:zero, 0)::real)",                    # NULL: no cursor, the first page
        "5": "(NULLIF(:zero, 0)::text)", "6": "(NULLIF(:zero, 0)::text)",
        "7": ":limit",                                      # 21: a page of 20, plus one
    },
    "literal": {
        "1": ":uid", "2": "false", "3": "NULL::text",
        "4": "NULL::real", "5": "NULL::text", "6": "NULL::text", "7": "21",
    },
}
for name, params in variants.items():
    body = re.sub(r"\$(\d+)", lambda m: params[m.group(1)], sql)
    with open(f"{sys.argv[1]}/list-{name}.sql", "w") as f:
        f.write("\\set n random(1, :employees)\n"
                "SELECT md5('belong-synthetic-user:' || :n)::uuid AS uid \\gset\n" + body + ";\n")
PY
    # Does src/groups/directory.rs still hold this query?
    python3 - <<'PY' || true
import os, re
src = open("src/groups/directory.rs").read()
m = re.search(r"pub async fn list\(.*?r#\"(.*?)\"#", src, re.S)
norm = lambda s: " ".join(s.split())
if not m or norm(m.group(1)) != norm(os.environ["LIST_SQL"]):
    print("WARNING: the list query in src/groups/directory.rs differs from the copy in scripts/bench.sh;"
          " update the copy so that pgbench measures what the server runs")
PY
    pgbench_run() { # variant, connections
        local name="pgbench-$1-c$2"
        (cd "$work" && pgbench -n -M prepared -c "$2" -j 2 -T "$BENCH_DURATION" \
            -D employees="$BENCH_EMPLOYEES" -D zero=0 -D is_admin=false -D limit=21 \
            -f "list-$1.sql" -l --log-prefix="$name" "$DATABASE_URL") \
            >"$work/$name.out" 2>&1 || { cat "$work/$name.out"; exit 1; }
        grep -E "^(tps|latency average|number of transactions actually processed|number of failed)" "$work/$name.out"
        python3 - "$work" "$name" <<'PY'
import glob, math, sys
lat = []
for f in glob.glob(f"{sys.argv[1]}/{sys.argv[2]}.*"):
    if f.endswith(".out"):
        continue
    for line in open(f):
        parts = line.split()
        if len(parts) >= 3 and parts[2].isdigit():
            lat.append(int(parts[2]) / 1000.0)
lat.sort()
pick = lambda q: lat[min(len(lat), max(1, math.ceil(q * len(lat)))) - 1] if lat else float("nan")
print(f"latency p50 {pick(0.5):.2f} ms, p90 {pick(0.9):.2f} ms, p99 {pick(0.99):.2f} ms, max {lat[-1] if lat else float('nan'):.2f} ms")
PY
    }
    c=$BENCH_CONCURRENCY
    say "pgbench: the list query with bound parameters (as the server sends it), -c $c"
    pgbench_run bound "$c"
    say "pgbench: the list query with literal values, -c $c"
    pgbench_run literal "$c"
    say "pgbench: the list query with bound parameters, -c $BENCH_POOL (the server's pool size)"
    pgbench_run bound "$BENCH_POOL"

    say "summary"
    tps() { sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench-$1.out" | tail -1; }
    http=$(sed -n "s/^result list@$c rps=\([0-9.]*\).*/\1/p" "$work/load.out" | tail -1)
    bound=$(tps "bound-c$c")
    literal=$(tps "literal-c$c")
    echo "the list at $c connections: belong ${http:-?} requests/s over HTTP;" \
        "pgbench, the same query: ${bound:-?}/s with bound parameters, ${literal:-?}/s with literal values"
    if [ -n "$http" ] && [ -n "$bound" ] && [ -n "$literal" ]; then
        python3 -c "
h, b, l = $http, $bound, $literal
print(f'ratio pgbench (bound) / belong = {b / h:.2f} (belong reaches {100 * h / b:.0f}% of the bare query rate)')
print(f'ratio pgbench (literal) / pgbench (bound) = {l / b:.2f} (what the plan for bound parameters costs)')"
    fi
    echo "machine: $(nproc) cores, $(free -m | awk '/Mem:/ {print $2}') MiB; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
}

if [ "${1:-}" = "--inside" ]; then
    inside
    exit 0
fi

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
    if [ "${BENCH_KEEP:-}" = 1 ]; then echo "logs kept in $BENCH_WORK"; else rm -rf "$BENCH_WORK"; fi
}
trap cleanup EXIT
# Copies, so that a rebuild in this tree during the run cannot change what is measured.
cp "$belong_exe" "$BENCH_WORK/belong"
cp "$load_exe" "$BENCH_WORK/load"
chmod -R a+rX "$BENCH_WORK"
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
scripts/scratch-postgres.sh "$0" --inside
