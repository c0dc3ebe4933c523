#!/usr/bin/env bash
# `make bench`: the benchmarks, printing figures (no timed assertions).
#
#   bench/run.sh
#
# Runs bench/webhook-bench.sh (the webhook ingest: module vs nginx
# `return 202` vs pgbench; see its header for the knobs), then
# bench/worker-bench.sh when it exists.  Uses the PostgreSQL given by
# TRACKTIK_DSN and PGHOST/PGPORT/PGDATABASE/PGUSER when they are set;
# otherwise starts (or reuses) the throw-away cluster of scripts/pg.sh
# under $TT_RUN_DIR (default .run).  Expects `make` to have built the
# module; without it the module's part is skipped with a message.
# Exit status: non-zero when a measurement was invalid (e.g. a response
# other than 202, or a failed pgbench), never because something was slow.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

export TT_RUN_DIR=${TT_RUN_DIR:-$repo/.run}

if [ -z "${TRACKTIK_DSN:-}" ] || [ -z "${PGPORT:-}" ]; then
    scripts/pg.sh start
    eval "$(scripts/pg.sh env)"
fi

# a worker started by `make run` competes for the CPU, drains the job
# table and shows up in the PostgreSQL CPU figures while we measure: say
# so, the figures are not those of the webhook path alone then
pidf=$TT_RUN_DIR/worker.pid
if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
    echo "bench: WARNING: tracktik-worker (pid $(cat "$pidf")) is running" \
         "and competes with the benchmark for the CPU; 'make stop' first" \
         "for figures of the webhook path alone" >&2
fi

status=0
bench/webhook-bench.sh || status=$?

if [ -f bench/worker-bench.sh ]; then
    echo
    if [ -n "${MAKELEVEL:-}" ]; then
        # under make, JOBS is the Makefile's build parallelism (exported),
        # not worker-bench's number of jobs
        env -u JOBS bash bench/worker-bench.sh || status=$?
    else
        bash bench/worker-bench.sh || status=$?
    fi
fi

if [ -f bench/portal-bench.sh ]; then echo; bash bench/portal-bench.sh || status=$?; fi

if [ -f bench/pull-bench.sh ]; then echo; bash bench/pull-bench.sh || status=$?; fi
if [ -f bench/notify-bench.sh ]; then echo; bash bench/notify-bench.sh || status=$?; fi
if [ -f bench/import-bench.sh ]; then echo; bash bench/import-bench.sh || status=$?; fi
if [ -f bench/audit-bench.sh ]; then echo; bash bench/audit-bench.sh || status=$?; fi

exit $status
