#!/usr/bin/env bash
# chain-bench: what the ledger's hash chain (migrations/018) costs.
#
#   1. the worker's ingest: bench/worker-bench.sh with the chain and
#      without it (its triggers disabled), alternating, so both see the
#      same machine (JOBS jobs a run, ROUNDS rounds);
#   2. the database alone: ROWS ledger rows (the worker tests' report as
#      raw) in one INSERT ... SELECT, with the chain and without;
#   3. `tracktik-worker audit --verify-chain` over those ROWS rows.
#
#   bench/chain-bench.sh        JOBS=20000 ROUNDS=2 ROWS=100000 by default
#
# Needs build/tracktik-worker and a PostgreSQL (PG* from `scripts/pg.sh
# env`, or scripts/pg.sh is started here).  Prints figures only.
set -euo pipefail

cd "$(dirname "$0")/.."

export JOBS=${JOBS:-20000}
rounds=${ROUNDS:-2}
rows=${ROWS:-100000}

. bench/pg-env.sh

for ((i = 1; i <= rounds; i++)); do
    CHAIN=on bench/worker-bench.sh
    CHAIN=off bench/worker-bench.sh
done

db="tt_chain_bench_$$"
dsn="host=$PGHOST port=$PGPORT dbname=$db user=$PGUSER"

drop() {
    psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 \
        || psql -qX -U postgres -d postgres \
               -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
}

drop
psql -qX -d postgres -c "CREATE DATABASE $db" >/dev/null 2>&1 \
    || psql -qX -U postgres -d postgres \
           -c "CREATE DATABASE $db OWNER $PGUSER" >/dev/null
trap drop EXIT
"$WORKER" migrate --dsn "$dsn" >/dev/null

# seconds one INSERT of $rows rows takes (the statement rolled back when
# $2 is "rollback", so that both runs start from the same table)
insert() {
    local t0 t1
    t0=$(date +%s.%N)
    psql -qX -d "$db" -v ON_ERROR_STOP=1 -v rows="$rows" -v tag="$1" \
        -v base="$(cat t/data/reports/after-hours-dispatch.json)" <<SQL
        BEGIN;
        $([ "$1" = off ] && echo "ALTER TABLE incidents_ledger
            DISABLE TRIGGER incidents_ledger_chain,
            DISABLE TRIGGER incidents_ledger_chain_head,
            ALTER COLUMN chain_seq DROP NOT NULL,
            ALTER COLUMN row_hash DROP NOT NULL;")
        INSERT INTO incidents_ledger (event_id, report_id, version,
            occurred_at, client_id, site_id, status, time_zone, raw,
            raw_sha256)
        SELECT :'tag' || g, g, 1, now(), 3, 55, 'APPROVED', 'UTC',
               :'base'::jsonb || jsonb_build_object('id', g), 'x'
          FROM generate_series(1, :rows) g;
        $2;
SQL
    t1=$(date +%s.%N)
    echo "$t0 $t1"
}

for tag in off on; do
    read -r t0 t1 < <(insert "$tag" rollback)
    awk -v n="$rows" -v a="$t0" -v b="$t1" -v c="$tag" 'BEGIN {
        printf "chain-bench: INSERT of %d ledger rows, chain %s: %.2f s = " \
               "%.1f us a row\n", n, c, b - a, (b - a) * 1e6 / n }'
done

insert on commit >/dev/null
t0=$(date +%s.%N)
"$WORKER" audit --verify-chain --dsn "$dsn" >/dev/null
t1=$(date +%s.%N)
awk -v n="$rows" -v a="$t0" -v b="$t1" 'BEGIN {
    printf "chain-bench: audit --verify-chain of %d rows: %.2f s = %.0f " \
           "rows/s\n", n, b - a, n / (b - a) }'
