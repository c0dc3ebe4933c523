#!/usr/bin/env bash
# audit-bench: `tracktik-worker audit --source FILE` of ROWS ledger
# reports against an export of the same size (the issue's benchmark: one
# million against one million, under 10 s).
#
#   bench/audit-bench.sh            ROWS=1000000 by default
#
# The ledger is generated with SQL in a database of its own (its insert
# triggers off while it is filled: the chain, search and counts are not
# what is measured), a third of the reports billed by the example
# contracts' after-hours rule and the rest in categories no rule bills
# (every one of those is tried against the rules by the audit).  The
# export is written from the same rows by the database (COPY ... CSV in
# the Operation Reports shape), with DIFF reports changed (severity) and
# DIFF left out, so the audit has differences to write.  Needs
# build/tracktik-worker and a PostgreSQL (PG* from `scripts/pg.sh env`,
# or scripts/pg.sh is started here).  Prints figures only.
set -euo pipefail

cd "$(dirname "$0")/.."

rows=${ROWS:-1000000}
diff=${DIFF:-1000}

. bench/pg-env.sh

db="tt_audit_bench_$$"
dsn="host=$PGHOST port=$PGPORT dbname=$db user=$PGUSER"
tmp=$(mktemp -d)

drop() {
    psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 \
        || psql -qX -U postgres -d postgres \
               -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}

drop
tmp=$(mktemp -d)
psql -qX -d postgres -c "CREATE DATABASE $db" >/dev/null 2>&1 \
    || psql -qX -U postgres -d postgres \
           -c "CREATE DATABASE $db OWNER $PGUSER" >/dev/null
[ -n "${KEEP:-}" ] || trap drop EXIT
"$WORKER" migrate --dsn "$dsn" >/dev/null
"$WORKER" contracts load conf/contracts.example.json --dsn "$dsn" >/dev/null

t0=$(date +%s.%N)
psql -qX -d "$db" -v ON_ERROR_STOP=1 -v rows="$rows" <<'SQL'
ALTER TABLE incidents_ledger DISABLE TRIGGER USER,
    ALTER COLUMN chain_seq DROP NOT NULL,
    ALTER COLUMN row_hash DROP NOT NULL;
ALTER TABLE billing_lines DISABLE TRIGGER USER;

INSERT INTO incidents_ledger (event_id, report_id, version, occurred_at,
    client_id, site_id, severity, category, report_template, status,
    time_zone, updated_on, raw, raw_sha256)
SELECT 'bench:' || g, g, 1, t, 100 + g % 10, 1000 + g % 50,
       (ARRAY['LOW', 'MODERATE', 'HIGH', 'SEVERE'])[1 + g % 4],
       CASE WHEN g % 3 = 0 THEN 'After hours dispatch'
            ELSE 'Trespassing' END,
       'Incident', 'APPROVED', 'UTC', t + interval '1 hour',
       jsonb_build_object('id', g), 'bench'
  FROM generate_series(1, :rows) g,
       LATERAL (SELECT timestamptz '2026-01-01T00:00:00Z'
                       + (g % 15552000) * interval '1 second' AS t) x;

INSERT INTO billing_lines (idempotency_key, kind, report_id, ledger_id,
    ledger_version, rule_set_version, rule_id, bill_code, quantity,
    service_date, client_id, site_id)
SELECT 'bench:' || l.report_id, 'charge', l.report_id, l.id, 1, 1,
       'after-hours-dispatch', 'ADH', 1, l.occurred_at::date, l.client_id,
       l.site_id
  FROM incidents_ledger l
 WHERE l.category = 'After hours dispatch';

ALTER TABLE incidents_ledger ENABLE TRIGGER USER;
ALTER TABLE billing_lines ENABLE TRIGGER USER;
VACUUM ANALYZE incidents_ledger;
VACUUM ANALYZE billing_lines;
SQL

psql -qX -d "$db" -v ON_ERROR_STOP=1 -v diff="$diff" -c "\\copy (
    SELECT report_id AS \"ID\",
           to_char(occurred_at AT TIME ZONE 'UTC',
                   'YYYY-MM-DD HH24:MI:SS') AS \"Date\",
           'Client ' || client_id AS \"Client\", client_id AS \"Client ID\",
           'Site ' || site_id AS \"Site\", site_id AS \"Site ID\",
           CASE WHEN report_id % ($rows / $diff) = 1 THEN 'INFO'
                ELSE severity END AS \"Severity\",
           category AS \"Category\", report_template AS \"Report Template\",
           status AS \"Status\", time_zone AS \"Time Zone\",
           to_char(updated_on AT TIME ZONE 'UTC',
                   'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"') AS \"Updated\",
           'Patrol' AS \"Position\", 'Officer ' || report_id % 97 AS \"Guard\",
           '1.00' AS \"Hours\", 'Routine patrol, nothing to report.'
               AS \"Details\"
      FROM incidents_ledger
     WHERE report_id % ($rows / $diff) <> 2
     ORDER BY report_id) TO '$tmp/export.csv' WITH (FORMAT csv, HEADER)"
t1=$(date +%s.%N)

awk -v a="$t0" -v b="$t1" -v n="$rows" -v f="$(stat -c %s "$tmp/export.csv")" \
    'BEGIN { printf "set-up: %d ledger rows and an export of %.0f MB in %.1f s\n",
             n, f / 1048576, b - a }'

# the audit itself, timed with its peak memory
mkdir -p "$tmp/out"
/usr/bin/time -f '%e %M' -o "$tmp/time" \
    "$WORKER" --log-level debug audit --from 2026-01-01 --to 2026-12-31 \
        --source "$tmp/export.csv" --out "$tmp/out" --dsn "$dsn" \
    > "$tmp/summary" 2> "$tmp/log" || [ $? -eq 1 ]

sed 's/^/  /' "$tmp/summary"
# the breakdown the worker logs: staging (the export read, checked and
# COPYed), the comparison in the database, the rules over the unbilled
sed -n 's/.*event=audit_timing /  breakdown: /p' "$tmp/log"
read -r secs rss < <(tail -n 1 "$tmp/time")
awk -v s="$secs" -v r="$rss" -v n="$rows" -v c="$(wc -l < "$tmp/out/audit.csv")" \
    'BEGIN { printf "audit: %d ledger reports against a %d-row export: %.2f s " \
             "(%.0f reports/s), max RSS %.0f MB, audit.csv %d lines " \
             "(target: under 10 s)\n", n, n, s, n / s, r / 1024, c }'
