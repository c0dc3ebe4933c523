#!/usr/bin/env bash
# `make stop`: stop what scripts/run.sh started (simulator, worker, nginx,
# PostgreSQL), using the pid files in $TT_RUN_DIR (default .run).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"
export TT_RUN_DIR=${TT_RUN_DIR:-$repo/.run}
run=$TT_RUN_DIR

# alive and not a zombie (daemons are reparented to an init that may reap
# them late)
alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state=$(sed 's/^.*) \([A-Z]\).*$/\1/' "/proc/$1/stat" 2>/dev/null) \
        || return 1
    [ "$state" != Z ]
}

wait_gone() {
    local pid=$1 i
    for i in $(seq 1 100); do
        alive "$pid" || return 0
        sleep 0.1
    done
    return 1
}

# is $1 still the process we started (its command line contains $2)?
ours() {
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$2"
}

stop_pidfile() {
    # stop_pidfile NAME PIDFILE SIGNAL CMDLINE-PATTERN
    local name=$1 pidf=$2 sig=$3 pat=$4 pid
    [ -f "$pidf" ] || return 0
    pid=$(cat "$pidf")
    if [ -n "$pid" ] && alive "$pid" && ours "$pid" "$pat"; then
        kill -"$sig" "$pid"
        if ! wait_gone "$pid"; then
            echo "stop: $name (pid $pid) did not exit, killing it"
            kill -KILL "$pid" 2>/dev/null
        fi
        echo "stop: $name stopped"
    fi
    rm -f "$pidf"
}

stop_pidfile simulator "$run/sim.pid" TERM tracktik_sim.py
stop_pidfile billing "$run/billing.pid" TERM "billing sync"
stop_pidfile worker "$run/worker.pid" TERM tracktik-worker
stop_pidfile notify "$run/notify.pid" TERM "notify run"
stop_pidfile smtp "$run/smtp.pid" TERM tt_smtp_server
stop_pidfile nginx "$run/nginx/logs/nginx.pid" QUIT "nginx: master"
if [ -d "$run/pg" ]; then
    scripts/pg.sh stop
fi
