#!/usr/bin/env bash
# Build build/ngx_http_tracktik_module.so against Debian's nginx-dev tree.
#
# The nginx source tree (/usr/share/nginx/src) is copied once into
# build/nginx-src and configured with Debian's own flags (conf_flags) plus
# --add-dynamic-module=<repo>.  configure re-runs only when `config` (the
# addon script) or this script changed; after that `make -f objs/Makefile
# modules` recompiles just what changed.  Our own sources are compiled with
# -Wall -Wextra and any warning in them fails the build.
#
# Usage: scripts/build-module.sh [MODULE_DIR [BUILD_DIR]]
#   MODULE_DIR defaults to the repository, BUILD_DIR to $TT_BUILD_DIR or
#   MODULE_DIR/build.
#
# Another build of the module (the sanitizer build, `make asan`) goes to a
# BUILD_DIR of its own, with a copy of the tree configured exactly as the
# default one (so the .so stays binary compatible with Debian's nginx),
# and extra flags for the module's objects and its link:
#   TT_CC              compiler for those objects and the link (default:
#                      the one configure found)
#   TT_EXTRA_CFLAGS    appended to nginx's CFLAGS (our files, the glue)
#   TT_EXTRA_LDFLAGS   appended to the .so's link command
# Objects compiled with other extra flags are compiled again.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "${1:-$here/..}" && pwd)
build=${2:-${TT_BUILD_DIR:-$repo/build}}
extra_cc=${TT_CC:-}
extra_cflags=${TT_EXTRA_CFLAGS:-}
extra_ldflags=${TT_EXTRA_LDFLAGS:-}
ngx_src=${NGX_SRC:-/usr/share/nginx/src}
tree=$build/nginx-src
jobs=${JOBS:-2}

if [ ! -f "$repo/config" ]; then
    echo "build-module: no $repo/config yet: module build skipped" >&2
    exit 0
fi

name=$(sed -n 's/^ngx_addon_name=\(["]*\)\([A-Za-z0-9_]*\).*/\2/p' \
       "$repo/config" | head -n 1)
name=${name:-ngx_http_tracktik_module}

mkdir -p "$build"

if [ ! -f "$tree/configure" ]; then
    echo "build-module: copying $ngx_src to $tree"
    rm -rf "$tree"
    cp -a "$ngx_src" "$tree"
fi

# The flags configure was run with; a change means configure again.
stamp=$tree/.tracktik-configure
want=$(cat "$repo/config" "$0" | sha256sum | cut -d' ' -f1)
want="$want $repo"

if [ ! -f "$tree/objs/Makefile" ] || [ ! -f "$stamp" ] \
   || [ "$(cat "$stamp")" != "$want" ]
then
    echo "build-module: configuring nginx with --add-dynamic-module=$repo"
    (
        cd "$tree"
        # shellcheck disable=SC1091
        source ./conf_flags
        ./configure "${NGX_CONF_FLAGS[@]}" \
            --with-cc-opt="-Wall -Wextra -Wno-unused-parameter -g -O2" \
            --add-dynamic-module="$repo" >"$build/configure.log" 2>&1 \
        || { tail -n 30 "$build/configure.log" >&2; exit 1; }
    )
    echo "$want" >"$stamp"
fi

# Extra flags: nginx's own CFLAGS with ours after them, the link through
# the compiler driver with ours (e.g. -fsanitize=address pulls in libasan).
make_vars=()
if [ -n "$extra_cc" ]; then
    make_vars+=("CC=$extra_cc")
fi
if [ -n "$extra_cflags$extra_ldflags" ]; then
    base=$(sed -n 's/^CFLAGS *= *//p' "$tree/objs/Makefile")
    make_vars+=("CFLAGS=$base $extra_cflags" "LINK=\$(CC) $extra_ldflags")
fi
flags="cc=$extra_cc cflags=$extra_cflags ldflags=$extra_ldflags"
flags_stamp=$tree/.tracktik-flags
if [ "$(cat "$flags_stamp" 2>/dev/null || echo 'cc= cflags= ldflags=')" \
     != "$flags" ]
then
    find "$tree/objs/addon" -name '*.o' -delete 2>/dev/null || true
    rm -f "$tree/objs/${name}_modules.o" "$tree/objs/$name.so"
fi
echo "$flags" >"$flags_stamp"

log=$build/module-build.log
: >"$log"       # this build's lines only: an old error must not linger
set +e
# The generated glue (objs/<name>_modules.c) defines ngx_modules[], a name
# the nginx binary exports too: instrumented, AddressSanitizer would put
# the .so's 16-byte size on nginx's own array and report nginx reading it
# at every reload.  So it is compiled with nginx's flags alone, first.
rc=0
if [ -n "$extra_cflags" ]; then
    make -C "$tree" -f objs/Makefile "objs/${name}_modules.o" >"$log" 2>&1
    rc=$?
fi
if [ $rc -eq 0 ]; then
    make -j"$jobs" -C "$tree" -f objs/Makefile \
        ${make_vars[@]+"${make_vars[@]}"} modules >>"$log" 2>&1
    rc=$?
fi
set -e

# Warnings in files of ours fail the build (nginx's own headers may warn,
# so only the compiler lines that name a file inside the repository count).
ours=$(grep -E "^$repo/[^:]*:[0-9]+:[0-9]+: (warning|error)" "$log" || true)
if [ $rc -ne 0 ] || [ -n "$ours" ]; then
    grep -E "(warning|error|Error)" "$log" >&2 || tail -n 40 "$log" >&2
    if [ $rc -eq 0 ]; then
        echo "build-module: warnings in our sources are errors" >&2
        # make the next run recompile the offending files
        find "$tree/objs/addon" -name '*.o' -delete 2>/dev/null || true
    fi
    exit 1
fi

cp "$tree/objs/$name.so" "$build/$name.so.tmp"
mv "$build/$name.so.tmp" "$build/$name.so"
echo "build-module: $build/$name.so"
