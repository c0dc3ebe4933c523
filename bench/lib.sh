# Shell functions shared by the bench scripts (sourced, not run):
#
#   free_port                      a free 127.0.0.1 TCP port
#   new_secret FILE                a random secret, created once, mode 600
#   nginx_start NAME PORT ARGS...  a master + 2 workers nginx in
#                                  $work/nginx-NAME, its nginx.conf from
#                                  scripts/nginx-conf.pl (ARGS are its
#                                  options: --module, --http, --server...),
#                                  checked with nginx -t, then started
#   nginx_stop_all                 QUIT to every nginx nginx_start started
#                                  (the scripts trap it on EXIT)
#
# Expects $repo, $work and $nginx_bin to be set by the script.

free_port() {
    perl -I "$repo/t/helper" -MTrackTikNginxConf \
        -e 'print TrackTikNginxConf::free_port(), "\n"'
}

new_secret() {
    if [ ! -s "$1" ]; then
        (umask 077
         od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$1"
         echo >>"$1")
    fi
}

nginx_started=()

nginx_start() {
    local name=$1 port=$2 prefix=$work/nginx-$1
    shift 2
    mkdir -p "$prefix/logs"
    echo "$port" >"$prefix/port"
    "$repo/scripts/nginx-conf.pl" --prefix "$prefix" \
        --listen "127.0.0.1:$port" --workers 2 --error-log-level warn \
        --worker-connections 4096 --access-log off \
        --out "$prefix/nginx.conf" "$@" || return 1
    if ! "$nginx_bin" -q -t -p "$prefix/" -e "$prefix/logs/error.log" \
            -c "$prefix/nginx.conf" >"$prefix/logs/test.log" 2>&1; then
        cat "$prefix/logs/test.log" >&2
        return 1
    fi
    "$nginx_bin" -p "$prefix/" -e "$prefix/logs/error.log" \
        -c "$prefix/nginx.conf" || return 1
    nginx_started+=("$prefix")
}

nginx_stop_all() {
    local prefix pid
    for prefix in ${nginx_started[@]+"${nginx_started[@]}"}; do
        pid=$(cat "$prefix/logs/nginx.pid" 2>/dev/null || true)
        [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null || true
    done
}

# generate_bodies DIR COUNT THREADS SECRET-FILE [SIZE]: signed unique
# deliveries from bench/gen-bodies.pl in DIR, (re)built unless DIR already
# holds them for these arguments, generator, fixture and secret
generate_bodies() {
    local dir=$1 count=$2 threads=$3 secret=$4 size=${5:-1024} stamp
    stamp="count=$count threads=$threads size=$size"
    stamp="$stamp gen=$(cat "$repo/bench/gen-bodies.pl" \
                            "$repo/t/data/reports/incident.json" | cksum)"
    stamp="$stamp secret=$(cksum <"$secret")"
    if [ "$(cat "$dir/stamp" 2>/dev/null)" != "$stamp" ]; then
        echo "bench: generating $count signed unique deliveries into $dir"
        rm -rf "$dir"
        mkdir -p "$dir"
        perl "$repo/bench/gen-bodies.pl" --count "$count" \
            --threads "$threads" --size "$size" --secret-file "$secret" \
            --out "$dir" || return 1
        echo "$stamp" >"$dir/stamp"
    fi
}
