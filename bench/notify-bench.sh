#!/usr/bin/env bash
# notify-bench: stakeholder notifications, figures only.
#
#   bench/notify-bench.sh     RATE=100 BENCH_SECONDS=10 N=2000 POLL_MS=20
#                             (the sender's idle poll) to change
#
# 1. Latency: nginx with the module, `tracktik-worker run`, `notify run`
#    and the local SMTP server; RATE signed deliveries a second (each a
#    HIGH incident of client 3, which one immediate rule mails) for
#    SECONDS; p50/p99 of the time from the webhook's 202 to the SMTP
#    server accepting the mail (bench/notify-load.py).
# 2. Throughput of one sender process: N queued notifications to the
#    SMTP server, then N to the webhook receiver (signed), drained by one
#    `notify run --drain`: notifications/s.
#
# Each part gets a database of its own (created, migrated, dropped).
# Needs `make` to have built the module and the worker; PostgreSQL from
# TRACKTIK_DSN / PG* (`scripts/pg.sh env`), or scripts/pg.sh is started.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

RATE=${RATE:-100}
SECONDS_=${SECONDS_:-${BENCH_SECONDS:-10}}
N=${N:-2000}
WORKER=$repo/build/tracktik-worker
module=$repo/build/ngx_http_tracktik_module.so
nginx_bin=${TT_NGINX_BINARY:-/usr/sbin/nginx}
lib=$repo/t/worker/lib

for f in "$WORKER" "$module"; do
    [ -e "$f" ] || { echo "notify-bench: $f is missing: run make" >&2; exit 1; }
done

if [ -z "${PGPORT:-}" ]; then
    scripts/pg.sh start >/dev/null
    eval "$(scripts/pg.sh env)"
fi
: "${PGHOST:=127.0.0.1}" "${PGUSER:=tracktik}"
export PGHOST PGPORT PGUSER

work=$(mktemp -d "${TMPDIR:-/tmp}/notify-bench.XXXXXX")
. bench/lib.sh

pids=()
dbs=()
cleanup() {
    local p d
    for p in ${pids[@]+"${pids[@]}"}; do kill "$p" 2>/dev/null || true; done
    for p in ${pids[@]+"${pids[@]}"}; do wait "$p" 2>/dev/null || true; done
    nginx_stop_all
    for d in ${dbs[@]+"${dbs[@]}"}; do
        psql -qX -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1 \
            || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

new_db() {
    local db="tt_notify_bench_$$_$1"
    psql -qX -d postgres -c "CREATE DATABASE $db" >/dev/null 2>&1 \
        || psql -qX -U postgres -d postgres \
               -c "CREATE DATABASE $db OWNER $PGUSER" >/dev/null
    dbs+=("$db")
    dsn="host=$PGHOST port=$PGPORT dbname=$db user=$PGUSER"
    "$WORKER" migrate --dsn "$dsn" >/dev/null
}

# start_server NAME SCRIPT ARGS...: a test server writing its port to
# $work/NAME/.port; sets $port
start_server() {
    local name=$1 script=$2
    shift 2
    mkdir -p "$work/$name"
    python3 "$lib/$script" "$work/$name" "$@" >/dev/null 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do
        [ -s "$work/$name/.port" ] && break
        sleep 0.1
    done
    port=$(cat "$work/$name/.port")
}

# ---- 1. latency: webhook 202 -> SMTP accepted -------------------------

new_db latency
start_server mail tt_smtp_server.py
smtp_port=$port
cat >"$work/rules.json" <<JSON
{"recipients": {"ops": {"email": "ops@client3.example"}},
 "rules": [{"id": "client-3-high", "match": {"client": [3]},
            "min_severity": "HIGH", "notify": ["ops"]}]}
JSON
"$WORKER" notify rules load "$work/rules.json" --dsn "$dsn" >/dev/null

secret=$work/webhook.secret
new_secret "$secret"
http_port=$(free_port)
nginx_start notify "$http_port" --module "$module" \
    --http "tracktik_postgres \"$dsn\";" \
    --server "location = /webhooks/tracktik { tracktik_webhook;
              tracktik_webhook_secret_file $secret; }"

"$WORKER" run --dsn "$dsn" >"$work/worker.log" 2>&1 &
pids+=($!)
"$WORKER" notify run --dsn "$dsn" --poll-interval-ms "${POLL_MS:-20}" \
    --smtp-url "smtp://127.0.0.1:$smtp_port" \
    --smtp-from alerts@guards.example >"$work/notify.log" 2>&1 &
pids+=($!)

echo "notify-bench: $RATE deliveries/s for ${SECONDS_} s, one immediate" \
     "rule, one worker, one sender"
status=0
python3 bench/notify-load.py latency \
    "http://127.0.0.1:$http_port/webhooks/tracktik" "$secret" \
    "$work/mail" "$RATE" "$SECONDS_" || status=1

# ---- 2. one sender's throughput ---------------------------------------

throughput() {
    local channel=$1 what=$2 t0 t1 sent
    new_db "tp_$channel"
    "$WORKER" notify rules load "$work/tp-$channel.json" --dsn "$dsn" \
        >/dev/null
    # N versions straight into the ledger: the trigger queues one each
    psql "$dsn" -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
INSERT INTO incidents_ledger (event_id, report_id, version, occurred_at,
    client_id, site_id, severity, status, time_zone, raw, raw_sha256)
SELECT 'bench:' || g, g, 1, now(), 3, 55, 'HIGH', 'APPROVED', 'UTC',
       jsonb_build_object('account', jsonb_build_object('name', 'Main St'),
           'reportFields', jsonb_build_array(jsonb_build_object(
               'value', 'bench', 'templateField',
               jsonb_build_object('label', 'Note')))), 'x'
  FROM generate_series(1, $N) g;
SQL
    t0=$(date +%s.%N)
    "$WORKER" notify run --drain --dsn "$dsn" --batch 100 \
        --smtp-url "smtp://127.0.0.1:$smtp_port" \
        --smtp-from alerts@guards.example >"$work/tp-$channel.log" 2>&1
    t1=$(date +%s.%N)
    sent=$(psql "$dsn" -qXAt \
           -c "SELECT count(*) FROM notifications WHERE state = 'sent'")
    awk -v n="$sent" -v t0="$t0" -v t1="$t1" -v w="$what" -v all="$N" \
        'BEGIN { printf "notify-bench: one sender, %d of %d notifications" \
                        " to %s in %.1f s: %.0f/s\n",
                        n, all, w, t1 - t0, n / (t1 - t0) }'
    [ "$sent" = "$N" ] || status=1
}

cat >"$work/tp-email.json" <<JSON
{"recipients": {"ops": {"email": "ops@client3.example"}},
 "rules": [{"id": "all", "match": {"client": [3]}, "notify": ["ops"]}]}
JSON
throughput email "the SMTP server"

hook_secret=$work/hook.secret
python3 -c 'import base64, os
print("whsec_" + base64.b64encode(os.urandom(32)).decode())' >"$hook_secret"
start_server hook tt_webhook_receiver.py "$hook_secret"
cat >"$work/tp-webhook.json" <<JSON
{"recipients": {"hook": {"webhook": "http://127.0.0.1:$port/in",
                         "secret_file": "$hook_secret"}},
 "rules": [{"id": "all", "match": {"client": [3]}, "notify": ["hook"]}]}
JSON
throughput webhook "the webhook receiver (signed, verified)"

exit $status
