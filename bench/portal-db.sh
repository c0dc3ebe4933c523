# Shell functions of bench/portal-bench.sh (sourced, not run): the bench
# database, built, reused or refreshed.
#
#   migrate_db            tracktik-worker migrate on the bench database
#   modified_migrations   the migrations edited since it was migrated
#   db_exists, db_drop, db_create, cached_stamp
#   build_db              a new database, ROWS rows from bench/portal-data.sql
#   refresh_schema        a changed migration: schema rebuilt, rows copied
#                         over (bench/portal-copy.sql)
#   reuse_db              the cached database when it still fits
#
# Expects the settings of portal-bench.sh ($db, $rows, $clients, $stamp,
# $work, $cache, $worker, $repo, $pg_bin) and its die, say, bq, su_q.

# the schema: tracktik-worker migrate on the bench database
migrate_db() {
    "$worker" migrate --sql-dir "$repo/sql" \
        --dsn "host=$PGHOST port=$PGPORT dbname=$db user=$PGUSER" \
        >"$work/migrate.out" 2>&1 \
        || { cat "$work/migrate.out" >&2; return 1; }
}

# the migrations edited since the database was migrated, space separated
modified_migrations() {
    { "$worker" migrate status --sql-dir "$repo/sql" \
          --dsn "host=$PGHOST port=$PGPORT dbname=$db user=$PGUSER" \
          2>/dev/null || true; } \
        | awk '$1 == "modified" { printf "%s ", $2 }'
}

db_exists() {
    [ "$("$pg_bin/psql" -X -At -d postgres \
          -c "SELECT 1 FROM pg_database WHERE datname = '$db'" 2>/dev/null \
          || su_q -d postgres \
          -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" = 1 ]
}

db_drop() {
    "$pg_bin/dropdb" --force --if-exists "$db" 2>/dev/null \
        || "$pg_bin/dropdb" -U postgres --force --if-exists "$db"
}

db_create() {
    "$pg_bin/createdb" -E UTF8 -T template0 "$db" 2>/dev/null \
        || "$pg_bin/createdb" -U postgres -O "$PGUSER" -E UTF8 -T template0 \
               "$db" \
        || die "cannot create database $db (as $PGUSER or postgres)"
}

cached_stamp() {
    bq -c "SELECT stamp FROM portal_bench_stamp" 2>/dev/null || true
}

build_db() {
    local t0 t1
    say "generating the bench database $db: $rows rows, $clients clients" \
        "(the first time only; kept for later runs)"
    db_drop
    db_create
    migrate_db || die "migrate failed"
    t0=$(date +%s)
    bq -v rows="$rows" -v clients="$clients" -f bench/portal-data.sql \
        | sed 's/^/    /'
    say "VACUUM ANALYZE"
    bq -c "VACUUM (ANALYZE) incidents_ledger"
    bq -c "CREATE TABLE portal_bench_stamp (stamp text NOT NULL)" \
       -c "INSERT INTO portal_bench_stamp VALUES ('$stamp')" \
       -c "ANALYZE portal_bench_stamp"
    t1=$(date +%s)
    gen_seconds=$((t1 - t0))
    say "generated in ${gen_seconds} s"
}

# A changed migration: the generated rows are set aside in a schema of
# their own, the public schema is dropped and migrated afresh, and
# the rows are copied into the new ledger (bench/portal-copy.sql): a plain
# copy is several times cheaper than generating them again.
refresh_schema() {
    local t0 t1
    t0=$(date +%s)
    bq -c "SET client_min_messages = warning" \
       -c "DROP SCHEMA IF EXISTS portal_bench_keep CASCADE" \
       -c "CREATE SCHEMA portal_bench_keep" \
       -c "ALTER TABLE incidents_ledger SET SCHEMA portal_bench_keep" \
       -c "DROP SCHEMA public CASCADE" \
       -c "CREATE SCHEMA public" || return 1
    migrate_db || return 1
    bq -f bench/portal-copy.sql | sed 's/^/    /' || return 1
    say "VACUUM ANALYZE"
    bq -c "VACUUM (ANALYZE) incidents_ledger" || return 1
    bq -c "CREATE TABLE portal_bench_stamp (stamp text NOT NULL)" \
       -c "INSERT INTO portal_bench_stamp VALUES ('$stamp')" \
       -c "ANALYZE portal_bench_stamp" || return 1
    t1=$(date +%s)
    say "schema rebuilt and $rows rows copied in $((t1 - t0)) s"
}

# A cached database is reused when its data stamp and row count match and
# no migration it was built with has changed since; migrate brings it up
# to date (migrations added since, the current functions).  A changed
# migration, or a database built by the bench's own runner of old, means
# a rebuilt schema, unless REUSE=1.
reuse_db() {
    local have n changed
    have=$(cached_stamp)
    if [ "$have" != "$stamp" ]; then
        say "$db was generated with other settings (${have:-none}):" \
            "regenerating"
        return 1
    fi
    n=$(bq -c "SELECT count(*) FROM incidents_ledger")
    if [ "$n" != "$rows" ]; then
        say "$db has $n rows, not $rows: regenerating"
        return 1
    fi
    if [ "$(bq -c "SELECT to_regclass('tracktik_schema_migrations')
                          IS NULL")" = t ]; then
        changed="(no migration record) "
    else
        changed=$(modified_migrations)
    fi
    if [ -n "$changed" ]; then
        if [ "${REUSE:-0}" = 1 ]; then
            say "REUSE=1: reusing $db although migrations changed since:" \
                "$changed"
            say "reusing $db ($rows rows)"
            return 0
        fi
        say "migrations changed since $db was generated (${changed% }):" \
            "rebuilding its schema around the generated rows" \
            "(REUSE=1 would keep it as it is)"
        if refresh_schema; then
            return 0
        fi
        say "that failed: regenerating"
        return 1
    fi
    migrate_db || die "migrate failed"
    say "reusing $db ($rows rows)"
}
