#!/usr/bin/env bash
# import-bench: `tracktik-worker import` of an Operation Reports export
# (sim/tt_export.py), measured side by side in one run against
#   (a) a loop of one INSERT per row: psql sending one INSERT statement
#       per row in one transaction (the seed's loop was psycopg, which is
#       not installed here: psql does the same round trip per row),
#       twice: into incidents_ledger itself (its indexes and triggers:
#       what the seed's loop paid) and into a plain table without any;
#   (b) a raw `\copy` of the same file into a plain table of text
#       columns;
#   (c) the floor: the ledger rows the import wrote, `\copy`d back into
#       copies of the ledger's table (bare, then with its indexes), so
#       the import is also compared with what storing its rows costs;
# and the importer's memory (maximum RSS, /usr/bin/time -v) on a large
# CSV and a large XLSX.
#
#   bench/import-bench.sh
#
#   IMPORT_ROWS=100000   rows of the export compared with (a) and (b)
#   BIG_CSV_MB=1024      size of the large CSV (0: skip)
#   BIG_XLSX_MB=200      size of the large XLSX, compressed (0: skip)
#   BIG_PAD=4000         bytes of padding per row of the large files (an
#                        extra "Notes" column), so that the large files
#                        are large without millions of ledger rows
#
# Every import gets a database of its own (created, migrated, dropped).
# Needs build/tracktik-worker and a PostgreSQL (TRACKTIK_DSN / PG* from
# `scripts/pg.sh env`, or scripts/pg.sh is started here).  Prints
# figures; exits non-zero only when a run did not import every row.
set -euo pipefail

cd "$(dirname "$0")/.."

ROWS=${IMPORT_ROWS:-100000}
BIG_CSV_MB=${BIG_CSV_MB:-1024}
BIG_XLSX_MB=${BIG_XLSX_MB:-200}
BIG_PAD=${BIG_PAD:-4000}
WORKER=$PWD/build/tracktik-worker

[ -x "$WORKER" ] || { echo "import-bench: no $WORKER: make first" >&2; exit 1; }
[ -n "${PGPORT:-}" ] || { scripts/pg.sh start >/dev/null
                          eval "$(scripts/pg.sh env)"; }
export PGHOST=${PGHOST:-127.0.0.1} PGUSER=${PGUSER:-tracktik} PGPORT

work=$(mktemp -d "${TMPDIR:-/tmp}/import-bench.XXXXXX")

cleanup() {
    local db
    # new_db runs in a command substitution, so its names are looked up
    # here rather than kept in a variable: exactly this run's prefix (not
    # LIKE, whose "_" would also match another run's databases)
    for db in $(psql -qXAt -d postgres -c "SELECT datname FROM pg_database
                    WHERE left(datname, length('tt_import_bench_$$_'))
                          = 'tt_import_bench_$$_'"); do
        psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" \
            >/dev/null 2>&1 \
        || psql -qX -U postgres -d postgres \
               -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# a fresh migrated database with the example contracts; its name on stdout
new_db() {
    local db="tt_import_bench_$$_$1"
    psql -qX -d postgres -c "CREATE DATABASE $db" >/dev/null 2>&1 \
        || psql -qX -U postgres -d postgres \
               -c "CREATE DATABASE $db OWNER $PGUSER" >/dev/null
    "$WORKER" migrate --dsn "$(dsn "$db")" >/dev/null
    "$WORKER" contracts load conf/contracts.example.json \
        --dsn "$(dsn "$db")" >/dev/null
    echo "$db"
}

dsn() { echo "host=$PGHOST port=$PGPORT dbname=$1 user=$PGUSER"; }

now() { date +%s.%N; }

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }

# import FILE DB: runs the importer under /usr/bin/time -v; sets secs,
# rss_kb, copy_rate (the reading + checking + COPY rate it printed) and
# the summary line
import_run() {
    local file=$1 db=$2 t0 t1
    t0=$(now)
    /usr/bin/time -v -o "$work/time.txt" "$WORKER" import "$file" \
        --dsn "$(dsn "$db")" >"$work/out.txt" 2>"$work/err.txt" || {
        cat "$work/err.txt" >&2
        return 1
    }
    t1=$(now)
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    rss_kb=$(awk -F': ' '/Maximum resident set size/ { print $2 }' \
             "$work/time.txt")
    copy_rate=$(grep -o '[0-9]* rows/s' "$work/err.txt" | tail -1 \
                | cut -d' ' -f1)
    summary=$(cat "$work/out.txt")
}

echo "== import-bench: $ROWS-row Operation Reports export"

csv=$work/export.csv
xlsx=$work/export.xlsx
python3 sim/tt_export.py "$csv" --rows "$ROWS"
python3 sim/tt_export.py "$xlsx" --rows "$ROWS"
printf 'files: CSV %s MB, XLSX %s MB\n' \
    "$(( $(stat -c %s "$csv") / 1048576 ))" \
    "$(( $(stat -c %s "$xlsx") / 1048576 ))"

status=0

# (b) raw \copy into a plain table of text columns
db=$(new_db raw)
cols=$(head -1 "$csv" | tr -d '\r' | awk -F, '{
    for (i = 1; i <= NF; i++) printf "%sc%d text", (i > 1 ? ", " : ""), i }')
psql -qX -d "$db" -c "CREATE TABLE import_bench_raw ($cols)"
t0=$(now)
psql -qX -d "$db" -v ON_ERROR_STOP=1 \
    -c "\\copy import_bench_raw FROM '$csv' WITH (FORMAT csv, HEADER true)"
t1=$(now)
copy_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
copy_rows=$(psql -qXAt -d "$db" -c "SELECT count(*) FROM import_bench_raw")

# (a) one INSERT per row (statements written beforehand, not timed):
# into a plain table, and into the ledger as the seed's loop did
python3 - "$csv" "$work/inserts.sql" "$work/ledger.sql" <<'PY'
import csv, hashlib, json, sys
q = lambda v: "'" + str(v).replace("'", "''") + "'"
with open(sys.argv[1], newline="", encoding="utf-8") as f, \
        open(sys.argv[2], "w", encoding="utf-8") as plain, \
        open(sys.argv[3], "w", encoding="utf-8") as ledger:
    r = csv.reader(f)
    head = next(r)
    for row in r:
        plain.write("INSERT INTO import_bench_loop VALUES (%s);\n"
                    % ", ".join(q(v) for v in row))
        d = dict(zip(head, row))
        raw = json.dumps(d, sort_keys=True)
        sha = hashlib.sha256(raw.encode()).hexdigest()
        ledger.write(
            "INSERT INTO incidents_ledger (event_id, report_id, version,"
            " occurred_at, client_id, site_id, severity, category, status,"
            " time_zone, updated_on, raw, raw_sha256) VALUES (%s);\n"
            % ", ".join([q("report:%s:%s" % (d["ID"], sha)), d["ID"], "1",
                         q(d["Date"]), d["Client ID"], d["Site ID"],
                         q(d["Severity"]), q(d["Category"]), q(d["Status"]),
                         q(d["Time Zone"]), q(d["Updated"]), q(raw),
                         q(sha)]))
PY
psql -qX -d "$db" -c "CREATE TABLE import_bench_loop ($cols)"
t0=$(now)
psql -qX -d "$db" -v ON_ERROR_STOP=1 -1 -f "$work/inserts.sql" >/dev/null
t1=$(now)
loop_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
loop_rows=$(psql -qXAt -d "$db" -c "SELECT count(*) FROM import_bench_loop")

t0=$(now)
psql -qX -d "$db" -v ON_ERROR_STOP=1 -1 -f "$work/ledger.sql" >/dev/null
t1=$(now)
lloop_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
lloop_rows=$(psql -qXAt -d "$db" -c "SELECT count(*) FROM incidents_ledger")

# the importer: CSV, then XLSX, each into an empty ledger
csv_db=$(new_db csv)
import_run "$csv" "$csv_db"
csv_secs=$secs csv_rss=$rss_kb csv_copy=$copy_rate csv_summary=$summary

# (c) the floor: the rows the import wrote, exported from the ledger (not
# timed) and \copied back into copies of incidents_ledger's table, once
# bare (no index, no trigger) and once with the ledger's indexes: what
# PostgreSQL here takes to store these rows at all, before any parsing,
# dedupe, rules, billing, search text or hash chain.  No importer that
# writes this ledger can be faster than the second.
psql -qX -d "$csv_db" -v ON_ERROR_STOP=1 \
    -c "\\copy (SELECT * FROM incidents_ledger) TO '$work/ledger.txt'" \
    -c "CREATE TABLE floor_bare (LIKE incidents_ledger INCLUDING DEFAULTS)" \
    -c "CREATE TABLE floor_indexed (LIKE incidents_ledger
            INCLUDING DEFAULTS INCLUDING INDEXES)"
floor_copy() {
    local t0 t1
    t0=$(now)
    psql -qX -d "$csv_db" -v ON_ERROR_STOP=1 \
        -c "\\copy $1 FROM '$work/ledger.txt'"
    t1=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}
bare_secs=$(floor_copy floor_bare)
indexed_secs=$(floor_copy floor_indexed)
ledger_mb=$(( $(stat -c %s "$work/ledger.txt") / 1048576 ))
rm -f "$work/ledger.txt"
import_run "$xlsx" "$(new_db xlsx)"
xlsx_secs=$secs xlsx_rss=$rss_kb xlsx_summary=$summary

for s in "$csv_summary" "$xlsx_summary"; do
    case $s in
    *"$ROWS rows: $ROWS new, 0 unchanged, 0 updated, 0 rejected"*) ;;
    *) echo "import-bench: INVALID: $s" >&2; status=1 ;;
    esac
done
[ "$copy_rows" = "$ROWS" ] && [ "$loop_rows" = "$ROWS" ] \
    && [ "$lloop_rows" = "$ROWS" ] || {
    echo "import-bench: INVALID: copy $copy_rows, loop $loop_rows," \
         "ledger loop $lloop_rows rows" >&2
    status=1
}

csv_rate=$(rate "$ROWS" "$csv_secs")
printf '%-52s %8s s %9s rows/s\n' \
    "(a) loop: one INSERT per row into the ledger" "$lloop_secs" \
    "$(rate "$ROWS" "$lloop_secs")" \
    "(a) loop: one INSERT per row into a plain table" "$loop_secs" \
    "$(rate "$ROWS" "$loop_secs")" \
    "(b) raw \\copy into a plain table" "$copy_secs" \
    "$(rate "$ROWS" "$copy_secs")" \
    "import CSV into the ledger (rules, billing, search)" "$csv_secs" \
    "$csv_rate" \
    "import XLSX into the ledger" "$xlsx_secs" \
    "$(rate "$ROWS" "$xlsx_secs")" \
    "(c) \\copy of the finished ledger rows, bare table" "$bare_secs" \
    "$(rate "$ROWS" "$bare_secs")" \
    "(c) the same, with the ledger's indexes" "$indexed_secs" \
    "$(rate "$ROWS" "$indexed_secs")"
printf 'ledger rows as text: %s MB (the CSV: %s MB)\n' "$ledger_mb" \
    "$(( $(stat -c %s "$csv") / 1048576 ))"
printf 'import CSV: read + check + COPY to staging, before the merge: %s rows/s\n' \
    "$csv_copy"
awk -v i="$csv_secs" -v l="$loop_secs" -v c="$copy_secs" -v r="$csv_copy" \
    -v n="$ROWS" -v ll="$lloop_secs" -v b="$bare_secs" -v x="$indexed_secs" \
    'BEGIN {
    printf "ratios: import / ledger loop = %.1fx, / plain loop = %.1fx " \
           "(target >= 20x)\n", ll / i, l / i
    printf "        import / raw \\copy = %.2f (target >= 0.33)\n", c / i
    printf "        staging part alone / raw \\copy = %.2f\n", r / (n / c)
    printf "floor:  bare ledger table / raw \\copy = %.2f, " \
           "/ plain loop = %.1fx\n", c / b, l / b
    printf "        indexed ledger table / raw \\copy = %.2f, " \
           "/ plain loop = %.1fx\n", c / x, l / x
    printf "        import / indexed floor = %.2f\n", x / i }'
printf 'RSS: %s-row CSV %d MB, XLSX %d MB\n' "$ROWS" \
    $(( csv_rss / 1024 )) $(( xlsx_rss / 1024 ))

# memory on large files: flat means well under 64 MB whatever the size
big_rss() {
    local ext=$1 mb=$2 big=$work/big.$1
    [ "$mb" -gt 0 ] || return 0
    python3 sim/tt_export.py "$big" --size-mb "$mb" --pad "$BIG_PAD"
    import_run "$big" "$(new_db "big$ext")"
    printf 'RSS: %d MB %s (%s): %d MB max resident, %s s\n' \
        $(( $(stat -c %s "$big") / 1048576 )) "$ext" \
        "$(grep -o '[0-9]* rows:' <<<"$summary")" \
        $(( rss_kb / 1024 )) "$secs"
    rm -f "$big"
}

rm -f "$csv" "$work/inserts.sql" "$work/ledger.sql"
big_rss csv "$BIG_CSV_MB"
big_rss xlsx "$BIG_XLSX_MB"

exit $status
