#!/usr/bin/env bash
# A throw-away PostgreSQL 15 cluster for development and tests.
#
#   scripts/pg.sh start     create (first time) and start; idempotent
#   scripts/pg.sh stop      fast shutdown
#   scripts/pg.sh kill      immediate shutdown (like a crash)
#   scripts/pg.sh restart   stop + start, same port and data
#   scripts/pg.sh status    exit 0 when running
#   scripts/pg.sh env       shell exports (eval "$(scripts/pg.sh env)")
#   scripts/pg.sh psql ...  psql connected to the database
#   scripts/pg.sh destroy   stop and remove the cluster
#
# Everything lives in $TT_RUN_DIR/pg (TT_RUN_DIR defaults to .run in the
# repository): data/ (owned by the `postgres` OS user when run as root,
# since initdb refuses root), sock/ (unix socket), server.log and the port
# file.  The server listens on 127.0.0.1 only, on a free port chosen at
# creation and kept afterwards.  Database `tracktik`, role `tracktik`,
# trust authentication on loopback, UTF8.  The schema comes from
# `tracktik-worker migrate` (sql/README), run at every start: new
# migrations and edited functions land while a cluster lives on (`make run`
# keeps .run/pg).  make brings build/tracktik-worker up to date first.
# Clusters of the old sql/*.sql layout listed what psql had run in
# pg/applied: that list is handed to migrate, which upgrades them.
# fsync stays on: the tests check durability.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
run_dir=${TT_RUN_DIR:-$repo/.run}
mkdir -p "$run_dir"
run_dir=$(cd "$run_dir" && pwd)
pg_dir=$run_dir/pg
data=$pg_dir/data
sock=$pg_dir/sock
log=$pg_dir/server.log
port_file=$pg_dir/port
applied=$pg_dir/applied
worker=$repo/build/tracktik-worker
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
db=tracktik
role=tracktik

die() { echo "pg.sh: $*" >&2; exit 1; }

[ -x "$bin/pg_ctl" ] || die "no PostgreSQL 15 binaries in $bin (run scripts/deps.sh)"

# initdb and the server refuse to run as root: use the postgres OS user.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

free_port() {
    perl -MIO::Socket::INET -e '
        my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
                                      LocalPort => 0, Listen => 1)
            or die "no free port: $!\n";
        print $s->sockport, "\n";'
}

port_busy() {
    perl -MIO::Socket::INET -e '
        exit(IO::Socket::INET->new(PeerAddr => "127.0.0.1",
                                   PeerPort => $ARGV[0]) ? 0 : 1)' "$1"
}

is_running() {
    [ -f "$data/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$data" status \
        >/dev/null 2>&1
}

port() {
    [ -f "$port_file" ] || die "no cluster in $pg_dir (run: scripts/pg.sh start)"
    cat "$port_file"
}

dsn() {
    echo "host=127.0.0.1 port=$(port) dbname=$db user=$role"
}

create_cluster() {
    echo "pg.sh: creating cluster in $data"
    # every directory on the way must be traversable by postgres
    chmod a+x "$run_dir"
    mkdir -p "$pg_dir" "$sock"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$pg_dir" "$sock"
    fi
    chmod 755 "$pg_dir"
    as_pg "$bin/initdb" -D "$data" -E UTF8 --locale=C --auth=trust \
        -U postgres >"$pg_dir/initdb.log" 2>&1 \
        || { cat "$pg_dir/initdb.log" >&2; die "initdb failed"; }
    local p
    p=$(free_port)
    cat >>"$data/postgresql.conf" <<CONF

# scripts/pg.sh
listen_addresses = '127.0.0.1'
port = $p
unix_socket_directories = '$sock'
fsync = on
synchronous_commit = on
max_connections = 200
log_line_prefix = '%m [%p] %q%u@%d '
CONF
    echo "$p" >"$port_file"
}

pg_start() {
    if is_running; then
        migrate
        return 0
    fi
    local created=
    if [ ! -f "$data/PG_VERSION" ]; then
        create_cluster
        created=1
    fi
    local p
    p=$(port)
    if port_busy "$p"; then
        # the port was taken while we were down: move to a free one
        p=$(free_port)
        sed -i "s/^port = [0-9]*$/port = $p/" "$data/postgresql.conf"
        echo "$p" >"$port_file"
    fi
    as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null \
        || { tail -n 20 "$log" >&2; die "start failed"; }
    if [ -n "$created" ] || ! has_db; then
        create_db
    else
        migrate
    fi
    echo "pg.sh: PostgreSQL on 127.0.0.1:$p ($data)"
}

has_db() {
    [ "$(PGCONNECT_TIMEOUT=10 "$bin/psql" -h 127.0.0.1 -p "$(port)" \
        -U postgres -d postgres -At \
        -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" = 1 ]
}

create_db() {
    local p
    p=$(port)
    local su=("$bin/psql" -h 127.0.0.1 -p "$p" -U postgres -d postgres
              -v ON_ERROR_STOP=1 -q)
    "${su[@]}" -c "CREATE ROLE $role LOGIN"
    "${su[@]}" -c "CREATE DATABASE $db OWNER $role ENCODING 'UTF8'"
    migrate
}

# psql as the tracktik role: q SQL
q() {
    "$bin/psql" -h 127.0.0.1 -p "$(port)" -U "$role" -d "$db" -X -q -At \
        -v ON_ERROR_STOP=1 -c "$1"
}

# pg/applied, the list of the old layout's files psql ran, becomes the
# table the old runner kept (unless the database has one): migrate
# upgrades the database from it, or names what is missing
record_old_list() {
    local name
    [ -f "$applied" ] || return 0
    [ "$(q "SELECT to_regclass('tracktik_schema_migrations') IS NULL")" = t ] \
        || return 0
    q "CREATE TABLE tracktik_schema_migrations (filename text PRIMARY KEY,
           applied_at timestamptz NOT NULL DEFAULT now())"
    while read -r name; do
        case "$name" in
            ''|*[!A-Za-z0-9_.-]*) die "$applied: not a file name: $name" ;;
        esac
        q "INSERT INTO tracktik_schema_migrations (filename)
           VALUES ('$name') ON CONFLICT DO NOTHING"
    done <"$applied"
}

migrate() {
    # up to date first: an old binary would not know the sql/ layout
    make -C "$repo" -s --no-print-directory worker >&2 \
        || die "cannot build $worker, which applies the schema"
    record_old_list
    "$worker" migrate --dsn "$(dsn)" --sql-dir "$repo/sql" \
        | sed 's/^/pg.sh: migrate: /' \
        || die "migrate failed (a cluster older than pg/applied?"\
               "scripts/pg.sh destroy, then start)"
    rm -f "$applied"
}

pg_stop() {
    local mode=$1
    if is_running; then
        as_pg "$bin/pg_ctl" -D "$data" -m "$mode" -w -t 60 stop >/dev/null
        echo "pg.sh: stopped ($mode)"
    fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
    start)   pg_start ;;
    stop)    pg_stop fast ;;
    kill)    pg_stop immediate ;;
    restart) pg_stop fast; pg_start ;;
    status)  is_running ;;
    port)    port ;;
    dsn)     dsn ;;
    env)
        p=$(port)
        cat <<ENV
export TRACKTIK_DSN='$(dsn)'
export TEST_NGINX_TRACKTIK_DSN='$(dsn)'
export TEST_NGINX_POSTGRESQL_PORT=$p
export PGHOST=127.0.0.1
export PGPORT=$p
export PGDATABASE=$db
export PGUSER=$role
ENV
        ;;
    psql)
        exec "$bin/psql" -h 127.0.0.1 -p "$(port)" -U "$role" -d "$db" "$@" ;;
    destroy)
        pg_stop immediate
        rm -rf "$pg_dir" ;;
    *)
        sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2 ;;
esac
