#!/usr/bin/env bash
# `make stop`: stop what scripts/run.sh started (simulator, worker, nginx,
# PostgreSQL), using the pid files in $TT_RUN_DIR (default .run).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"
export TT_RUN_DIR=${TT_RUN_DIR:-$repo/.run}
run=$TT_RUN_DIR

wait_gone() {
    local pid=$1 i
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

stop_pidfile() {
    # stop_pidfile NAME PIDFILE SIGNAL
    local name=$1 pidf=$2 sig=$3 pid
    [ -f "$pidf" ] || return 0
    pid=$(cat "$pidf")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -"$sig" "$pid"
        if ! wait_gone "$pid"; then
            echo "stop: $name (pid $pid) did not exit, killing it"
            kill -KILL "$pid" 2>/dev/null
        fi
        echo "stop: $name stopped"
    fi
    rm -f "$pidf"
}

stop_pidfile simulator "$run/sim.pid" TERM
stop_pidfile worker "$run/worker.pid" TERM
stop_pidfile nginx "$run/nginx/logs/nginx.pid" QUIT
if [ -d "$run/pg" ]; then
    scripts/pg.sh stop
fi
