#!/usr/bin/env bash
# worker-bench: jobs/s of tracktik-worker from 'queued' to ledger row and
# billing line, for 1 and 2 worker processes.
#
#   bench/worker-bench.sh            100000 jobs per run (JOBS=N to change)
#
# Needs build/tracktik-worker and a PostgreSQL: TRACKTIK_DSN / PG* from
# `scripts/pg.sh env`, or scripts/pg.sh is started here.  Each run gets a
# database of its own (created, migrated, dropped), so the figures do not
# depend on what else the cluster holds.  Prints figures; asserts only
# that every job became exactly one ledger row.
set -euo pipefail

cd "$(dirname "$0")/.."

JOBS=${JOBS:-100000}

. bench/pg-env.sh
bench_need_worker worker-bench

db_create() {
    psql -qX -d postgres -c "CREATE DATABASE $1" >/dev/null 2>&1 \
        || psql -qX -U postgres -d postgres \
               -c "CREATE DATABASE $1 OWNER $PGUSER" >/dev/null
}

db_drop() {
    psql -qX -d postgres -c "DROP DATABASE IF EXISTS $1" >/dev/null 2>&1 \
        || psql -qX -U postgres -d postgres \
               -c "DROP DATABASE IF EXISTS $1" >/dev/null 2>&1 || true
}

run() {
    local procs=$1 db="tt_worker_bench_$$_$1" dsn t0 t1 rows
    dsn="host=$PGHOST port=$PGPORT dbname=$db user=$PGUSER"

    db_drop "$db"
    db_create "$db"
    trap 'db_drop '"$db" RETURN

    "$WORKER" migrate --dsn "$dsn" >/dev/null
    "$WORKER" contracts load conf/contracts.example.json --dsn "$dsn" \
        >/dev/null

    # CHAIN=off: the ledger's hash chain (migrations/018) set aside, to
    # measure what it costs against the same run with it
    # (bench/chain-bench.sh)
    if [ "${CHAIN:-on}" = off ]; then
        psql -qX -d "$db" -c "ALTER TABLE incidents_ledger
            DISABLE TRIGGER incidents_ledger_chain,
            DISABLE TRIGGER incidents_ledger_chain_head,
            ALTER COLUMN chain_seq DROP NOT NULL,
            ALTER COLUMN row_hash DROP NOT NULL" >/dev/null
    fi

    # a mix like a real tenant: a third after-hours dispatches (billed
    # ADH), a third alarm responses with hours (billed ALR), a third
    # patrol reports (not billed); 20 sites of 5 clients in two zones.
    # Each is the worker tests' report (t/data/reports/after-hours-
    # dispatch.json) with these keys replaced.
    psql -qX -d "$db" -v ON_ERROR_STOP=1 -v jobs="$JOBS" \
        -v base="$(cat t/data/reports/after-hours-dispatch.json)" <<'SQL'
        INSERT INTO tracktik_jobs (dedupe_key, payload)
        SELECT 'bench-' || g, :'base'::jsonb || jsonb_build_object(
            'id', g,
            'reportDateTime', to_char(timestamptz '2026-03-01 00:00Z'
                + g * interval '37 seconds', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
            'status', 'APPROVED',
            'timeZone', CASE WHEN g % 2 = 0 THEN 'America/New_York'
                             ELSE 'America/Toronto' END,
            'account', jsonb_build_object('id', 100 + g % 20,
                                          'parentClient', 1 + g % 5),
            'position', 700 + g % 20,
            'reportFlag', jsonb_build_object(
                'id', 10 + g % 3,
                'name', (ARRAY['After hours dispatch', 'Alarm response',
                               'Patrol'])[1 + g % 3],
                'severityLevel', (ARRAY['HIGH', 'MODERATE', 'LOW'])[1 + g % 3]),
            'reportFields', jsonb_build_array(
                jsonb_build_object('id', g, 'fieldTag', 'hours',
                                   'value', ((g % 8 + 1) * 0.5)::text),
                jsonb_build_object('id', g + 1, 'fieldTag', 'notes',
                                   'value', 'Guard on site, area secured, '
                                            || 'no further action needed')),
            'updatedOn', '2026-03-01T00:00:00Z')
          FROM generate_series(1, :jobs) g;
SQL
    psql -qX -d "$db" -c "VACUUM ANALYZE tracktik_jobs" >/dev/null

    t0=$(date +%s.%N)
    "$WORKER" run --drain --poll-only --concurrency "$procs" --dsn "$dsn" \
        2>/dev/null
    t1=$(date +%s.%N)

    rows=$(psql -qXAt -d "$db" -c "SELECT count(*) FROM incidents_ledger")
    lines=$(psql -qXAt -d "$db" -c "SELECT count(*) FROM billing_lines")
    left=$(psql -qXAt -d "$db" -c "SELECT count(*) FROM tracktik_jobs")

    if [ "$rows" != "$JOBS" ] || [ "$left" != 0 ]; then
        echo "worker-bench: $procs process(es): $rows ledger rows and" \
             "$left jobs left for $JOBS jobs" >&2
        return 1
    fi

    awk -v n="$JOBS" -v p="$procs" -v a="$t0" -v b="$t1" -v l="$lines" \
        -v c="${CHAIN:-on}" \
        'BEGIN { printf "worker-bench: %d process%s: %d jobs (%d billing '\
'lines) in %.2f s = %.0f jobs/s (chain %s)\n", p, p == 1 ? "" : "es", n, l, '\
'b - a, n / (b - a), c }'
}

run 1
run 2
