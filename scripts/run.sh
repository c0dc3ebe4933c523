#!/usr/bin/env bash
# `make run`: build, then start in the background PostgreSQL, nginx with
# the module (127.0.0.1:8080, master + 2 workers), the worker and the
# simulator (when they exist), and print how to use and stop them.
#
# State lives in $TT_RUN_DIR (default .run): pg/, nginx/ (prefix: conf,
# logs), tracktik_webhook.secret (random, created once, mode 600),
# worker.log, sim.log and *.pid files that scripts/stop.sh uses.
# TT_HTTP_PORT overrides 8080.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

export TT_RUN_DIR=${TT_RUN_DIR:-$repo/.run}
mkdir -p "$TT_RUN_DIR"
run=$(cd "$TT_RUN_DIR" && pwd)
http_port=${TT_HTTP_PORT:-8080}
nginx_bin=${TT_NGINX_BINARY:-/usr/sbin/nginx}
prefix=$run/nginx
module=$repo/build/ngx_http_tracktik_module.so
secret_file=$run/tracktik_webhook.secret

# alive, not a zombie, and running $2 (a stale pid file may name a pid
# that has been reused since)
alive() {
    local state
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
    state=$(sed 's/^.*) \([A-Z]\).*$/\1/' "/proc/$1/stat" 2>/dev/null) \
        || return 1
    [ "$state" != Z ] || return 1
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$2"
}

scripts/deps.sh
make --no-print-directory all

[ -f "$module" ] || { echo "run: $module not built (no config yet?)" >&2; exit 1; }

scripts/pg.sh start
eval "$(scripts/pg.sh env)"

# the webhook secret: random, never printed, never logged
if [ ! -s "$secret_file" ]; then
    (umask 077; od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$secret_file"
     echo >>"$secret_file")
fi
chmod 600 "$secret_file"

# the portal's session signing key (same treatment) and photo store
session_secret_file=$run/tracktik_session.secret
if [ ! -s "$session_secret_file" ]; then
    (umask 077; od -An -N32 -tx1 /dev/urandom | tr -d ' \n' \
                >"$session_secret_file"
     echo >>"$session_secret_file")
fi
chmod 600 "$session_secret_file"
mkdir -p "$run/attachments"

# nginx: master + 2 workers, the http level from conf/nginx.run.conf.in
mkdir -p "$prefix/conf" "$prefix/logs"
conf=$prefix/conf/nginx.conf
scripts/nginx-conf.pl --prefix "$prefix" --module "$module" --workers 2 \
    --error-log-level info --http-file conf/nginx.run.conf.in \
    --set PREFIX="$prefix" --set PORT="$http_port" \
    --set DSN="$TRACKTIK_DSN" --set SECRET_FILE="$secret_file" \
    --set SESSION_SECRET_FILE="$session_secret_file" \
    --set ATTACHMENT_DIR="$run/attachments" --set REPO="$repo" \
    --out "$conf"

"$nginx_bin" -q -t -p "$prefix/" -e "$prefix/logs/error.log" -c "$conf"

ngx_pid=
if [ -f "$prefix/logs/nginx.pid" ]; then
    ngx_pid=$(cat "$prefix/logs/nginx.pid")
fi
if alive "$ngx_pid" "nginx: master"; then
    kill -HUP "$ngx_pid"
    echo "run: nginx reloaded (master $ngx_pid)"
else
    "$nginx_bin" -p "$prefix/" -e "$prefix/logs/error.log" -c "$conf"
    echo "run: nginx started"
fi

start_bg() {
    # start_bg NAME LOG CMDLINE-PATTERN CMD...: a daemon with a pid file
    local name=$1 log=$2 pat=$3
    shift 3
    local pidf=$run/$name.pid
    if [ -f "$pidf" ] && alive "$(cat "$pidf")" "$pat"; then
        echo "run: $name already running (pid $(cat "$pidf"))"
        return
    fi
    nohup "$@" >>"$log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$pidf"
    sleep 0.5
    if ! alive "$pid" "$pat"; then
        rm -f "$pidf"
        echo "run: $name exited at once; the end of $log:" >&2
        tail -n 5 "$log" >&2
        return 1
    fi
    echo "run: $name started (pid $pid, log $log)"
}

if [ -x build/tracktik-worker ]; then
    # the seed's contract rules (a new rule set version only if changed)
    build/tracktik-worker contracts load conf/contracts.example.json \
        --if-changed >/dev/null \
        || echo "run: could not load conf/contracts.example.json" >&2

    # demo portal logins: an operator, and a user of the simulator's
    # first client (created once; the passwords are printed below)
    demo_client_user=client@demo.test
    demo_operator=operator@demo.test
    demo_password=tracktik-demo
    build/tracktik-worker users list 2>/dev/null \
        | grep -q "^$demo_operator" \
        || printf '%s\n' "$demo_password" | build/tracktik-worker users add \
               "$demo_operator" --operator >/dev/null
    build/tracktik-worker users list 2>/dev/null \
        | grep -q "^$demo_client_user" \
        || printf '%s\n' "$demo_password" | build/tracktik-worker users add \
               "$demo_client_user" --client "${TT_DEMO_CLIENT:-101}" \
               >/dev/null
fi

if [ -f sim/tracktik_sim.py ]; then
    # the simulated tenant delivers its guards' reports to our webhook
    start_bg sim "$run/sim.log" tracktik_sim.py python3 sim/tracktik_sim.py \
        --deliver-url "http://127.0.0.1:$http_port/webhooks/tracktik" \
        --secret-file "$secret_file" --rate "${TT_SIM_RATE:-1}/s" \
        || true
fi

if [ -x build/tracktik-worker ] && [ -f "$run/sim.pid" ]; then
    # the worker logs in to the simulated tenant (its demo OAuth client
    # and API user; a fresh simulator knows no earlier session) and posts
    # billing lines to it as ad-hoc items; the seed's ADH rule has no unit
    # price, so the bill code gets a default one
    sim_url="http://127.0.0.1:${SIM_PORT:-8090}"
    client_secret_file=$run/tracktik_client.secret
    (umask 077; printf 'demo-secret\n' >"$client_secret_file")
    for _ in $(seq 1 100); do    # the simulator builds its tenant first
        curl -sf "$sim_url/__sim/health" >/dev/null 2>&1 && break
        sleep 0.1
    done
    printf 'api-password\n' | build/tracktik-worker auth login \
        --url "$sim_url" --client-id demo \
        --client-secret-file "$client_secret_file" \
        --username api --password-stdin >/dev/null \
        || echo "run: auth login to the simulator failed" >&2
    adh=$(curl -s "$sim_url/__sim/state" | python3 -c \
          'import json, sys; print(json.load(sys.stdin)["tenant"]["billItems"]["ADH"])' \
          2>/dev/null || true)
    if [ -n "$adh" ]; then
        psql "$TRACKTIK_DSN" -qXAt -v ON_ERROR_STOP=1 -c \
            "INSERT INTO tracktik_bill_items (bill_code, bill_item_id, default_price)
             VALUES ('ADH', $adh, 95.00) ON CONFLICT (bill_code) DO NOTHING" \
            || true
    fi
    start_bg billing "$run/billing.log" "billing sync" \
        build/tracktik-worker billing sync --url "$sim_url" \
        --poll-interval 5000 || true
fi

if [ -x build/tracktik-worker ]; then
    # started after the login above, so from its first job on it enriches
    # reports from the simulator (the ledger's client is the site's parent
    # client); deliveries that came earlier wait in the queue.
    # TRACKTIK_DSN is exported by `scripts/pg.sh env` above; report photos
    # go where nginx's /_tracktik_attachments/ points
    start_bg worker "$run/worker.log" tracktik-worker \
        build/tracktik-worker run --attachment-dir "$run/attachments" || true
fi

if [ -x build/tracktik-worker ]; then
    # stakeholder notifications: a local SMTP server keeps every mail as
    # a file in $run/mail/ (a free port unless TT_SMTP_PORT), the example
    # rules (conf/notify.example.json) and a sender
    [ -f "$run/smtp.pid" ] && alive "$(cat "$run/smtp.pid")" tt_smtp_server \
        || rm -f "$run/mail/.port"
    start_bg smtp "$run/smtp.log" tt_smtp_server python3 \
        t/worker/lib/tt_smtp_server.py "$run/mail" "${TT_SMTP_PORT:-0}" \
        || true
    for _ in $(seq 1 100); do
        [ -s "$run/mail/.port" ] && break
        sleep 0.1
    done
    smtp_port=$(cat "$run/mail/.port" 2>/dev/null || true)
    build/tracktik-worker notify rules load conf/notify.example.json \
        >/dev/null || echo "run: could not load conf/notify.example.json" >&2
    [ -n "$smtp_port" ] && start_bg notify "$run/notify.log" "notify run" \
        build/tracktik-worker notify run \
        --smtp-url "smtp://127.0.0.1:$smtp_port" \
        --smtp-from notifications@tracktik.localhost \
        --portal-url "http://127.0.0.1:$http_port/portal/" || true
fi

# a realistic sample delivery to try the endpoint with
sample=$run/sample-report.json
# (approved, at the simulator's site 102 of client 101: the demo client
# user sees it in the portal once the worker has recorded it)
perl -I t/helper -MTrackTikTest -e 'print tt_sample_report(
    status => "APPROVED",
    account => { id => 102, name => "Site 102", type => "CLIENT" })' \
    >"$sample"

url="http://127.0.0.1:$http_port/webhooks/tracktik"
rel_sample=${sample#"$repo"/}
rel_secret=${secret_file#"$repo"/}

cat <<MSG

  nginx (webhook)   $url
  client portal     http://127.0.0.1:$http_port/portal/
  metrics, health   http://127.0.0.1:$http_port/metrics, http://127.0.0.1:$http_port/health
  demo logins       ${demo_client_user:-} (client ${TT_DEMO_CLIENT:-101}), ${demo_operator:-} (operator); password ${demo_password:-}
  TrackTik sim      http://127.0.0.1:${SIM_PORT:-8090}/ (delivering to the webhook; log $run/sim.log)
  PostgreSQL        $TRACKTIK_DSN
  logs              $prefix/logs/error.log, $prefix/logs/access.log$( [ -x build/tracktik-worker ] && printf ', %s' "$run/worker.log")
  notifications     mails to conf/notify.example.json's recipients land in $run/mail/ (log $run/notify.log)
  billing sync      ad-hoc items appear at http://127.0.0.1:${SIM_PORT:-8090}/__sim/state (billingAdhocItems); log $run/billing.log
  stop everything   make stop

  post a signed sample delivery (expect HTTP/1.1 202):

curl -sS -i $url -H 'Content-Type: application/json' -H "TrackTik-Subscription-Secret: \$(scripts/sign.sh $rel_sample $rel_secret)" --data-binary @$rel_sample

MSG
