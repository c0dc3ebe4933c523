#!/usr/bin/env bash
# `make test`: everything CI runs, from a fresh clone on a fresh Debian 12.
#
#   deps -> build (module, worker, unit tests) -> PostgreSQL in $TT_RUN_DIR
#   -> prove -r t/ (Test::Nginx suites, t/worker/ too) -> build/tests/*
#   -> stop PostgreSQL (also on failure) -> summary, non-zero on failure.
#
# Our own Test::Nginx::Socket (t/driver) is put on @INC only when the real
# one is not installed.  Useful variables: TT_RUN_DIR (default .run/test:
# a cluster of its own, so the suites never touch what `make run` keeps),
# TEST_NGINX_PORT (default 1984, or a free port when 1984 is taken),
# TEST_NGINX_SERVROOT (default $TT_RUN_DIR/servroot),
# PROVE_ARGS (extra prove arguments), TT_TESTS (files or dirs instead of t/),
# TT_BUILD (where the module .so and the unit tests are: default build,
# build/asan for scripts/test-asan.sh), TT_MAKE_TARGETS (what the build step
# makes: default all).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

export TT_RUN_DIR=${TT_RUN_DIR:-$repo/.run/test}
build=${TT_BUILD:-build}

step() { printf '\n==> %s\n' "$*"; }

step "dependencies"
scripts/deps.sh || exit 1

step "build"
# shellcheck disable=SC2086
make --no-print-directory ${TT_MAKE_TARGETS:-all} || {
    echo "test: build failed" >&2
    exit 1
}

pg_started=
stop_pg() {
    if [ -n "$pg_started" ]; then
        scripts/pg.sh stop || true
    fi
}
trap stop_pg EXIT
trap 'exit 130' INT TERM

step "PostgreSQL"
if ! scripts/pg.sh status; then
    pg_started=1
fi
scripts/pg.sh start || exit 1
eval "$(scripts/pg.sh env)"

export TEST_NGINX_BINARY=${TEST_NGINX_BINARY:-/usr/sbin/nginx}
if [ -f "$build/ngx_http_tracktik_module.so" ]; then
    so=$(cd "$build" && pwd)/ngx_http_tracktik_module.so
    export TEST_NGINX_LOAD_MODULES=${TEST_NGINX_LOAD_MODULES:-$so}
fi
# per run directory, so two checkouts or engineers never share one
export TEST_NGINX_SERVROOT=${TEST_NGINX_SERVROOT:-$TT_RUN_DIR/servroot}
if [ -z "${TEST_NGINX_PORT:-}" ] && [ -z "${TEST_NGINX_SERVER_PORT:-}" ]; then
    # 1984 as usual, unless something already listens there
    TEST_NGINX_PORT=$(perl -MIO::Socket::INET -e '
        for my $p (1984, 0) {
            my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
                                          LocalPort => $p, Listen => 1,
                                          ReuseAddr => 1) or next;
            print $s->sockport; exit;
        }')
    export TEST_NGINX_PORT
fi
echo "test: suites use nginx on 127.0.0.1:${TEST_NGINX_SERVER_PORT:-${TEST_NGINX_PORT:-}}, server root $TEST_NGINX_SERVROOT"
export TT_REPO=$repo

inc=(-I "$repo/t/helper")
if perl -MTest::Nginx::Socket -e1 2>/dev/null; then
    driver="installed Test::Nginx::Socket"
else
    inc+=(-I "$repo/t/driver")
    driver="t/driver (clean-room Test::Nginx::Socket subset)"
fi

failed=()

step "Test::Nginx suites ($driver)"
# shellcheck disable=SC2206
targets=(${TT_TESTS:-t/})
# shellcheck disable=SC2086
mkdir -p "$TT_RUN_DIR"
prove_log=$TT_RUN_DIR/prove.log
# shellcheck disable=SC2086
prove -r "${inc[@]}" ${PROVE_ARGS:-} "${targets[@]}" 2>&1 | tee "$prove_log"
if [ "${PIPESTATUS[0]}" -ne 0 ]; then
    failed+=("prove ${targets[*]}")
fi

step "unit tests ($build/tests/*)"
n_unit=0
if [ -d "$build/tests" ]; then
    for t in "$build"/tests/*; do
        [ -f "$t" ] && [ -x "$t" ] || continue
        n_unit=$((n_unit + 1))
        echo "--- $t"
        if ! "$t"; then
            failed+=("$t")
        fi
    done
fi
[ "$n_unit" -gt 0 ] || echo "(none built)"

step "summary"
if [ ${#failed[@]} -eq 0 ]; then
    echo "ALL TESTS PASSED (suites: ${targets[*]}; unit binaries: $n_unit)"
    exit 0
fi
echo "FAILED:"
for f in "${failed[@]}"; do
    echo "  $f"
done
if [ -s "${prove_log:-}" ]; then
    # CI shows the end of the output: repeat which suites failed, and why
    echo "--- failing assertions (from $prove_log)"
    grep -E '^ *(not ok|#   Failed test|#   at |#  +got|#  +expected|#  +doesn.t match|# Looks like)' "$prove_log" | tail -40
    echo "--- prove's summary"
    sed -n '/^Test Summary Report/,$p' "$prove_log" | tail -30
fi
exit 1
