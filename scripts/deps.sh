#!/usr/bin/env bash
# Install the Debian 12 packages the build, the tests and `make run` need.
# clang, its sanitizer runtimes (libclang-rt-14-dev) and llvm (for
# llvm-symbolizer) are for `make test-asan` and the fuzzers (fuzz/).
#
# Fast and offline-friendly: asks dpkg what is already there and only runs
# apt-get (update + install) when something is missing.  Services that the
# packages would start (a system nginx on :80, a system PostgreSQL cluster
# on :5432) are kept from starting: we run our own instances on 127.0.0.1.
#
# Never harms the host: it stops, restarts or reconfigures no service,
# cluster or file.  Our own PostgreSQL and nginx use free ports on
# 127.0.0.1, so a system service a package might still start does not get
# in their way; it is named, for the administrator to decide.
set -euo pipefail

PACKAGES=(
    build-essential pkg-config
    nginx nginx-dev
    debhelper dpkg-dev fakeroot
    libpq-dev postgresql-15 postgresql-client-15
    libssl-dev libyajl-dev libcrypt-dev libcurl4-openssl-dev libcmocka-dev
    libcsv-dev
    libzip-dev libexpat1-dev libxlsxwriter-dev
    clang libclang-rt-14-dev llvm
    wrk
    libtest-base-perl libipc-run-perl libtext-diff-perl
    libtest-longstring-perl liblist-moreutils-perl libwww-perl
    libjson-pp-perl liburi-perl
    libio-pty-perl libarchive-zip-perl
    python3 curl openssl procps iproute2 ca-certificates tzdata
    chromium fonts-dejavu-core
)

# node + npm for the portal's browser test (playwright-core from npm, see
# package.json); Debian 12's nodejs 18 will do.  Checked by command, not
# by package: NodeSource's nodejs package provides npm itself.
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    if [ "$status" != "installed" ]; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi

echo "deps: installing ${missing[*]}"

SUDO=
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
fi

# Keep maintainer scripts from starting nginx / PostgreSQL services.
policy=/usr/sbin/policy-rc.d
created_policy=
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    created_policy=1
fi
cleanup() {
    if [ -n "$created_policy" ]; then
        $SUDO rm -f "$policy"
    fi
}
trap cleanup EXIT

# What runs before the install, to name what the install started
online_clusters() {
    command -v pg_lsclusters >/dev/null 2>&1 || return 0
    pg_lsclusters -h 2>/dev/null | awk '$4 == "online" { print $1 "/" $2 }'
}
clusters_before=$(online_clusters)

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

for c in $(online_clusters); do
    if ! printf '%s\n' "$clusters_before" | grep -qx -- "$c"; then
        echo "deps: note: the install started PostgreSQL cluster $c;" \
             "left running (pg_ctlcluster ${c%%/*} ${c#*/} stop to stop it)"
    fi
done
echo "deps: done"
