#!/usr/bin/env bash
# `make test-asan`: every suite of `make test` against the sanitizer build.
#
#   make asan (module, worker, unit tests with -fsanitize=address,undefined
#   into build/asan) -> scripts/test.sh with that build -> the sanitizer
#   reports written during the run -> non-zero when a suite failed or any
#   report was written.
#
# How each part runs with the sanitizers:
#   - nginx: Debian's /usr/sbin/nginx is not instrumented; a wrapper
#     (build/asan/nginx, TEST_NGINX_BINARY) starts it with the ASan runtime
#     the module was linked against in LD_PRELOAD, so the runtime is there
#     before the module is loaded.  Leak detection is off for nginx: its
#     pools live until exit by design, a leak report would be noise.
#   - the worker and the unit tests are linked with the runtime; leaks are
#     detected when they exit (a leak makes the process exit non-zero).
#   - every report goes to $TT_RUN_DIR/sanitizer/ (log_path), not to the
#     stderr the suites compare, and the run fails when that directory is
#     not empty.  A report aborts the process that hit it.
#   - the worker suites find the worker as <their tree>/build/tracktik-worker
#     (t/worker/lib/TTWorker.pm), so they run from build/asan/tree: a tree
#     of symbolic links to this checkout whose build/ holds the sanitizer
#     binaries.  TT_WORKER_BINARY names it too, for a TTWorker that reads
#     it.  The Test::Nginx suites take TEST_NGINX_LOAD_MODULES.
#
# Variables: those of scripts/test.sh (TT_RUN_DIR, TEST_NGINX_PORT,
# PROVE_ARGS, TT_TESTS: paths relative to the checkout), and
# TT_ASAN_SKIP: space-separated test files left out (default: none).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

export TT_RUN_DIR=${TT_RUN_DIR:-$repo/.run/test}
asan=$repo/build/asan
tree=$asan/tree
logs=$TT_RUN_DIR/sanitizer

# Build first: the runtime to preload is the one the module links.
scripts/deps.sh || exit 1
make --no-print-directory all asan || {
    echo "test-asan: build failed" >&2
    exit 1
}

runtime=$(ldd "$asan/ngx_http_tracktik_module.so" \
          | awk '$1 ~ /asan/ { print $3; exit }')
if [ -z "$runtime" ] || [ ! -f "$runtime" ]; then
    echo "test-asan: the module in $asan links no ASan runtime" >&2
    exit 1
fi

rm -rf "$logs"
mkdir -p "$logs"
# nginx workers may run as another user (nobody) than the master
chmod 1777 "$logs"

# abort_on_error: a report kills the process (an nginx worker then shows
# up as "exited on signal 6", a worker run as a failed command);
# halt_on_error and -fno-sanitize-recover make every report the last one.
common=abort_on_error=1:halt_on_error=1:disable_coredump=1
common=$common:detect_stack_use_after_return=1:strict_string_checks=1
# (clang's runtime holds ASan and UBSan together: one log_path for both)
ubsan=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=$common:detect_leaks=1:log_path=$logs/sanitizer
export UBSAN_OPTIONS=$ubsan:log_path=$logs/sanitizer
if command -v llvm-symbolizer >/dev/null 2>&1; then
    ASAN_SYMBOLIZER_PATH=$(command -v llvm-symbolizer)
    export ASAN_SYMBOLIZER_PATH
fi

cat >"$asan/nginx" <<EOF
#!/bin/sh
# Written by scripts/test-asan.sh: Debian's nginx with the sanitizer
# runtime preloaded, leak detection off (nginx frees its pools at exit).
LD_PRELOAD=$runtime\${LD_PRELOAD:+:\$LD_PRELOAD}
ASAN_OPTIONS=$common:detect_leaks=0:log_path=$logs/nginx
UBSAN_OPTIONS=$ubsan:log_path=$logs/nginx
export LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS
exec /usr/sbin/nginx "\$@"
EOF
chmod 755 "$asan/nginx"

# The tree the suites run from: t/ as directories of links to the files
# (so FindBin and TTWorker's path arithmetic stay inside the tree), the
# rest of the checkout linked, build/ pointing at the sanitizer build.
rm -rf "$tree"
mkdir -p "$tree/build"
cp -rs "$repo/t" "$tree/t"
for e in "$repo"/*; do
    name=${e##*/}
    case $name in
        t|build) ;;
        *) ln -s "$e" "$tree/$name" ;;
    esac
done
ln -s ../../tracktik-worker "$tree/build/tracktik-worker"
ln -s ../../ngx_http_tracktik_module.so \
      "$tree/build/ngx_http_tracktik_module.so"

for skip in ${TT_ASAN_SKIP:-}; do
    if [ -e "$tree/$skip" ]; then
        echo "test-asan: $skip left out (TT_ASAN_SKIP)"
        rm -f "$tree/$skip"
    fi
done

targets=()
for t in ${TT_TESTS:-t/}; do
    case $t in
        /*) targets+=("$t") ;;
        *) targets+=("$tree/$t") ;;
    esac
done

TT_BUILD=$asan TT_MAKE_TARGETS="all asan" TT_TESTS="${targets[*]}" \
TT_WORKER_BINARY=$asan/tracktik-worker TEST_NGINX_BINARY=$asan/nginx \
TEST_NGINX_LOAD_MODULES=$asan/ngx_http_tracktik_module.so \
    scripts/test.sh
rc=$?

printf '\n==> sanitizer reports (%s)\n' "$logs"
reports=$(find "$logs" -type f -size +0 | sort)
if [ -z "$reports" ]; then
    echo "none"
else
    for f in $reports; do
        echo "--- $f"
        head -n 25 "$f"
    done
    echo "test-asan: $(echo "$reports" | wc -l) sanitizer report(s)" >&2
    rc=1
fi

if [ $rc -eq 0 ]; then
    echo "test-asan: ALL PASSED, no sanitizer report"
else
    echo "test-asan: FAILED" >&2
fi
exit $rc
