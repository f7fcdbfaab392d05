#!/usr/bin/env bash
# Regenerates .sqlx/ (the offline query data that lets `cargo build` work without a database)
# from a scratch database migrated to the current schema. With --check, fails if .sqlx/ is not
# exactly what the current queries and migrations produce.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-write}
out=$(mktemp -d /tmp/belong-sqlx-XXXXXX)
trap 'rm -rf "$out"' EXIT
SQLX_OFFLINE=true cargo build --quiet --bin belong
scripts/scratch-postgres.sh bash -c '
    set -e
    BELONG__LOG__FILTER=warn target/debug/belong migrate >/dev/null
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
