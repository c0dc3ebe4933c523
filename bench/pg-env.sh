# Sourced by the worker-side benchmarks (from the repository's root): the
# PostgreSQL they use, the one PGPORT & co. name, else the throw-away
# cluster of scripts/pg.sh under $TT_RUN_DIR, and the worker they run.

WORKER=build/tracktik-worker

# bench_need_worker NAME: stop with a message when `make` has not run
bench_need_worker() {
    if [ ! -x "$WORKER" ]; then
        echo "$1: $WORKER is missing: run make first" >&2
        exit 1
    fi
}

if [ -z "${PGPORT:-}" ]; then
    scripts/pg.sh start >/dev/null
    eval "$(scripts/pg.sh env)"
fi

: "${PGHOST:=127.0.0.1}" "${PGUSER:=tracktik}"
export PGHOST PGPORT PGUSER
