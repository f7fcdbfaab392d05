#!/usr/bin/env bash
# Regenerates .sqlx/ (the offline query data that lets `cargo build` work without a database)
# from a scratch database migrated to the current schema. With --check, fails if .sqlx/ is not
# exactly what the current queries and migrations produce.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-write}
out=$(mktemp -d /tmp/belong-sqlx-XXXXXX)
trap 'rm -rf "$out"' EXIT
# The schema comes straight from the migrations (in order), so the script also works when the
# committed offline data is behind the queries and the crate cannot build offline.
scripts/scratch-postgres.sh bash -c '
    set -e
    for f in migrations/*.sql; do psql -q -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -f "$f" >/dev/null; done
    # Touching the crate roots makes the query macros run again and write their data.
    touch src/lib.rs src/main.rs tests/api/main.rs
    SQLX_OFFLINE=false SQLX_OFFLINE_DIR='"$out"' cargo check --quiet --all-targets
'
if [ "$mode" = "--check" ]; then
    if ! diff -r .sqlx "$out" >/dev/null; then
        echo ".sqlx/ is out of date with the queries or migrations; run scripts/sqlx-prepare.sh and commit .sqlx/" >&2
        diff -rq .sqlx "$out" >&2 || true
        exit 1
    fi
    echo ".sqlx/ is current"
else
    rm -rf .sqlx && mkdir .sqlx && cp "$out"/*.json .sqlx/
    echo "wrote $(ls .sqlx | wc -l) query files to .sqlx/"
fi
