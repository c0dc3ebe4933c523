#!/usr/bin/env bash
# The webhook benchmark (issue 2, scope item 8).  Prints figures; asserts
# nothing about speed.  Measures on this machine, in one run:
#
#   (a) nginx + ngx_http_tracktik_module (master, 2 workers, pool=4),
#       wrk at 64 connections, pre-signed unique ~1 KiB report deliveries;
#   (b) the same nginx answering `return 202;` (the ceiling), same wrk;
#   (c) pgbench inserting the same rows, 1 per transaction;
#   (d) pgbench inserting the same rows, 50 per transaction;
#   (e) the ack latency of (a) with wrk paced at 1,000 requests/s;
#   (f) the same paced run against (b): the latency floor of the machine
#       at that moment, to read (e) against;
#   and the module's /metrics (tracktik_metrics) scraped halfway through
#   the last (a) run, printed after the summary;
#
# each BENCH_RUNS times for BENCH_DURATION seconds ((e) and (f):
# BENCH_LATENCY_DURATION, 5 s, 5,000 requests each), interleaved round by
# round so that noise from the shared machine falls on all of them; the
# job tables are truncated (and a checkpoint taken) before every run.
# Then a summary table with medians and the ratios module/(d), module/(c)
# and module/(b), and the CPU time per request spent in our nginx workers,
# in the PostgreSQL cluster (postmaster and all its backends, found by the
# port: other clients of the cluster count too) and in wrk/pgbench.  The
# rates depend on what else runs on the machine, the CPU cost per request
# much less so.  A wrk run is valid only if every response was 202, no body
# was sent twice and the deliveries table holds at least one row per 202;
# invalid runs are reported, left out of the medians, and make the script
# exit non-zero.
#
# Needs TRACKTIK_DSN and PGHOST/PGPORT/PGDATABASE/PGUSER (bench/run.sh sets
# them up) and the schema from sql/.  (a) and (e) are skipped with a
# message while build/ngx_http_tracktik_module.so does not exist.
#
# Knobs (environment): BENCH_DURATION (10), BENCH_RUNS (3),
# BENCH_CONNECTIONS (64), BENCH_THREADS (wrk threads, 2), BENCH_BODIES
# (unique deliveries generated, 300000), BENCH_PG_CLIENTS (4: in sweeps
# of 1-16 clients on this 2-core machine, 4 gave (d) its best rate and (c)
# its best or close to it; more clients only queue on the commit, since the
# NOTIFY trigger serialises committing transactions),
# BENCH_PG_JOBS (pgbench threads, 2), BENCH_PG_MODE (pgbench -M, prepared:
# the strongest baseline; the module sends unnamed statements, i.e.
# extended), BENCH_BATCH (50), BENCH_RATE (1000),
# BENCH_LATENCY_DURATION (5), BENCH_ONLY (space-separated subset of:
# a b c d e f), BENCH_MODULE (the .so),
# BENCH_POOL (the module's pool=N, 4).
#
# Generated bodies are cached in build/bench/; nginx prefixes, wrk output
# and pgbench logs go to $TT_RUN_DIR/bench (default .run/bench).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

duration=${BENCH_DURATION:-10}
runs=${BENCH_RUNS:-3}
conns=${BENCH_CONNECTIONS:-64}
wrk_threads=${BENCH_THREADS:-2}
bodies=${BENCH_BODIES:-300000}
body_size=1024
pg_clients=${BENCH_PG_CLIENTS:-4}
pg_jobs=${BENCH_PG_JOBS:-2}
pg_mode=${BENCH_PG_MODE:-prepared}
pg_pool=${BENCH_POOL:-4}
batch=${BENCH_BATCH:-50}
rate=${BENCH_RATE:-1000}
only=${BENCH_ONLY:-a b c d e f}
lat_duration=${BENCH_LATENCY_DURATION:-5}
nginx_bin=${TT_NGINX_BINARY:-/usr/sbin/nginx}
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
module=${BENCH_MODULE:-$repo/build/ngx_http_tracktik_module.so}

export TT_RUN_DIR=${TT_RUN_DIR:-$repo/.run}
mkdir -p "$TT_RUN_DIR"
work=$(cd "$TT_RUN_DIR" && pwd)/bench
cache=$repo/build/bench
secret=$cache/webhook.secret

die() { echo "webhook-bench: $*" >&2; exit 1; }
say() { echo "webhook-bench: $*"; }

want() { case " $only " in *" $1 "*) return 0 ;; esac; return 1; }

: "${TRACKTIK_DSN:?webhook-bench: TRACKTIK_DSN is not set (use bench/run.sh)}"
: "${PGPORT:?webhook-bench: PGHOST/PGPORT/... are not set (use bench/run.sh)}"
command -v wrk >/dev/null || die "wrk is not installed (scripts/deps.sh)"
[ -x "$pg_bin/pgbench" ] || die "no pgbench in $pg_bin"
[ -x "$nginx_bin" ] || die "no nginx at $nginx_bin"

psql_q() { "$pg_bin/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

psql_q -c "SELECT 1 FROM tracktik_jobs, tracktik_deliveries LIMIT 1" \
    >/dev/null || die "no job tables in $PGDATABASE (sql/ not applied?)"

# shellcheck source=bench/lib.sh
. bench/lib.sh

rm -rf "$work"
mkdir -p "$work" "$cache"


# --- the deliveries ------------------------------------------------------

new_secret "$secret"

bodies_dir=$cache/bodies

generate() {
    # generate COUNT: (re)build the cache unless it already holds COUNT
    generate_bodies "$bodies_dir" "$1" "$wrk_threads" "$secret" \
        "$body_size" || die "generating the deliveries failed"
    bodies=$1
}

generate "$bodies"
head=$(cat "$bodies_dir/payload.head")
tail=$(cat "$bodies_dir/payload.tail")


# --- nginx ---------------------------------------------------------------

trap nginx_stop_all EXIT

have_module=
if want a || want e; then
    if [ -f "$module" ]; then
        port_a=$(free_port)
        if nginx_start module "$port_a" --module "$module" \
            --http "tracktik_postgres \"$TRACKTIK_DSN\" pool=$pg_pool;" \
            --server "
                location = /webhooks/tracktik {
                    tracktik_webhook;
                    tracktik_webhook_secret_file $secret;
                    client_max_body_size 2m;
                }
                location = /metrics {
                    tracktik_metrics;
                    allow 127.0.0.1;
                    deny all;
                }"
        then
            have_module=1
        else
            say "SKIP (a)/(e): nginx refused the module configuration (above)"
        fi
    else
        say "SKIP (a)/(e): $module is not built yet; measuring (b), (c), (d) only"
    fi
fi

if want b || want f; then
    port_b=$(free_port)
    nginx_start return "$port_b" \
        --server "location = /webhooks/tracktik { return 202; }" \
        || die "nginx with return 202 did not start"
fi
sleep 0.5


# --- helpers -------------------------------------------------------------

reset_tables() {
    psql_q -c "TRUNCATE tracktik_jobs, tracktik_deliveries RESTART IDENTITY"
    # a checkpoint before each run, so none lands in the middle of one;
    # needs a superuser (pg.sh clusters have `postgres`); skip otherwise
    psql_q -U postgres -c "CHECKPOINT" 2>/dev/null || true
}

# deliveries, not jobs: a tracktik-worker that happens to run drains jobs
delivery_rows() { psql_q -c "SELECT count(*) FROM tracktik_deliveries"; }

# rows per committed transaction: rows of one transaction share an xmin
rows_per_commit() {
    psql_q -c "SELECT coalesce(round(count(*)::numeric
                                     / nullif(count(DISTINCT xmin::text), 0), 1), 0)
               FROM tracktik_deliveries"
}

field() {
    # field NAME LINE: the value of NAME=... in a BENCH line
    sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"
}

# results: one line per run in $work/results:
#   KIND RUN VALID RPS P50_US P99_US ROWS_PER_COMMIT NGINX_CPU_US PG_CPU_US
#   CLIENT_CPU_US NOTE
# where the *_CPU_US are CPU microseconds per request (pgbench: per row)
# used by our nginx workers, by the PostgreSQL cluster and by wrk/pgbench.
record() { echo "$*" >>"$work/results"; }

# CPU accounting: the rates are measured on a machine shared with other
# work; CPU time per request is what they are made of, and depends much
# less on how busy the neighbours are.
clk_tck=$(getconf CLK_TCK)
pg_master=
case "${PGHOST:-127.0.0.1}" in
    127.0.0.1|localhost|/*)
        pg_master=$(ss -Hltnp "sport = :$PGPORT" 2>/dev/null \
                    | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1) ;;
esac

cpu_ticks() {
    # cpu_ticks PID: clock ticks used by PID, its live children and its
    # children that have exited (cutime, cstime); 0 without a PID
    local pid=${1:-} kids k
    if [ -z "$pid" ] || [ ! -r "/proc/$pid/stat" ]; then
        echo 0
        return
    fi
    kids=$(ps -o pid= --ppid "$pid" || true)
    { cat "/proc/$pid/stat"
      for k in $kids; do cat "/proc/$k/stat" 2>/dev/null || true; done
    } | awk '{ sub(/^.*\) /, ""); t += $12 + $13
               if (NR == 1) t += $14 + $15 }
             END { print t + 0 }'
}

per_unit() {
    # per_unit TICKS COUNT: microseconds of CPU per unit
    awk -v t="$1" -v n="$2" -v hz="$clk_tck" \
        'BEGIN { printf "%.0f", (n > 0 ? t / hz * 1e6 / n : 0) }'
}

client_cpu() {
    # client_cpu FILE COUNT: the user + system seconds that bash's `time`
    # wrote to FILE, as CPU microseconds per unit
    awk -v n="$2" \
        'NF == 2 { printf "%.0f", (n > 0 ? ($1 + $2) * 1e6 / n : 0) }' "$1"
}

master_of() { cat "$work/nginx-$1/logs/nginx.pid" 2>/dev/null || true; }

wrk_run() {
    # wrk_run KIND RUN PORT MODE: one wrk measurement
    local kind=$1 run=$2 port=$3 mode=$4
    local out=$work/wrk-$kind-$run.out line valid=yes note=
    local master n0 p0 n1 p1 TIMEFORMAT='%3U %3S' db=yes secs=$duration
    case $kind in b|f) db= ;; esac
    [ "$mode" = paced ] && secs=$lat_duration
    master=$(master_of "$([ -z "$db" ] && echo return || echo module)")
    n0=$(cpu_ticks "$master")
    p0=$(cpu_ticks "$pg_master")
    { time wrk -t "$wrk_threads" -c "$conns" -d "${secs}s" --timeout 10s \
        -s bench/webhook.lua "http://127.0.0.1:$port/webhooks/tracktik" \
        -- "$bodies_dir" "$mode" "$rate" "$wrk_threads" >"$out" 2>&1
    } 2>"$out.time" || true
    n1=$(cpu_ticks "$master")
    p1=$(cpu_ticks "$pg_master")
    line=$(grep '^BENCH requests=' "$out" || true)
    if [ -z "$line" ]; then
        say "($kind) run $run: no result from wrk:"
        sed 's/^/    /' "$out"
        record "$kind $run no 0 0 0 0 0 0 0 wrk-failed"
        return
    fi
    local requests cpu
    requests=$(field requests "$line")
    cpu="$(per_unit $((n1 - n0)) "$requests") $(per_unit $((p1 - p0)) "$requests")"
    cpu="$cpu $(client_cpu "$out.time" "$requests")"
    local statuses wrapped errors
    statuses=$(field statuses "$line")
    wrapped=$(field wrapped "$line")
    errors=$(field errors "$line")
    if [[ ! "$statuses" =~ ^202:[0-9]+$ ]]; then
        valid=no
        note="statuses=$statuses"
    fi
    if [ "$errors" != "0,0,0,0" ]; then
        valid=no
        note="$note socket-errors(connect,read,write,timeout)=$errors"
    fi
    if [ -n "$db" ] && [ "$wrapped" != 0 ]; then
        valid=no
        note="$note out-of-unique-bodies(raise-BENCH_BODIES)"
    fi
    local batch=0
    if [ -n "$db" ]; then
        # every 202 must be a committed row
        local acked rows
        batch=$(rows_per_commit)
        acked=${statuses#*202:}
        acked=${acked%%,*}
        [[ "$acked" =~ ^[0-9]+$ ]] || acked=0
        rows=$(delivery_rows)
        note="$note rows=$rows"
        if [ "$rows" -lt "$acked" ]; then
            valid=no
            note="$note FEWER-ROWS-THAN-202s($acked)"
        fi
    fi
    record "$kind $run $valid $(field rps "$line") $(field p50_us "$line")" \
        "$(field p99_us "$line") $batch $cpu ${note# }"
    printf '  (%s) run %s: %8s req/s  p50 %6s us  p99 %7s us  %s%s' \
        "$kind" "$run" "$(field rps "$line")" "$(field p50_us "$line")" \
        "$(field p99_us "$line")" "$statuses" \
        "$([ -z "$db" ] || echo " rows/commit=$batch")"
    printf '  cpu us/req nginx %s pg %s wrk %s %s\n' $cpu \
        "$([ $valid = yes ] || echo "INVALID ${note# }")"
    grep '^BENCH sample' "$out" | head -3 | sed 's/^/      /' || true
}

pgbench_script() {
    # pgbench_script ROWS: insert ROWS deliveries in one statement of the
    # same shape as the module's group commit (src/ngx_http_tracktik_
    # webhook.c): an `input` VALUES list, the dedupe keys into
    # tracktik_deliveries, the jobs with their jsonb payloads into
    # tracktik_jobs, ids returned in input order.  pgbench has no string
    # generators, so the key (a SHA-256 hex like the module's) is computed
    # by the server from the client and transaction numbers, and the
    # payload is the same report entity with a unique id spliced in.  Its
    # text travels with every row (head and tail are parameters), so the
    # server receives and parses as much JSON as with (a).
    local rows=$1 n sep=
    echo '\set seq :seq + 1'
    echo 'WITH b AS ('
    echo "    SELECT :kp::text || '-' || :client_id::text || '-' ||"
    echo '           :seq::text AS base,'
    echo "           :client_id::bigint * 1000000000 + :seq::bigint * $rows"
    echo '           AS id0),'
    echo 'v (n, head, tail) AS (VALUES'
    for n in $(seq 1 "$rows"); do
        echo "    $sep($n, :head::text, :tail::text)"
        sep=,
    done
    echo '), input (n, dedupe_key, payload) AS ('
    echo "    SELECT v.n, 'sha256:' || encode(sha256(convert_to(b.base || '-' || v.n,"
    echo "                                         'UTF8')), 'hex'),"
    echo '           v.head || (b.id0 + v.n)::text || v.tail'
    echo '    FROM b, v'
    echo '), fresh AS ('
    echo '    INSERT INTO tracktik_deliveries (dedupe_key)'
    echo '    SELECT dedupe_key FROM input ORDER BY dedupe_key'
    echo '    ON CONFLICT DO NOTHING RETURNING dedupe_key'
    echo '), job AS ('
    echo '    INSERT INTO tracktik_jobs (dedupe_key, payload)'
    echo '    SELECT i.dedupe_key, i.payload::jsonb'
    echo '    FROM input i JOIN fresh f USING (dedupe_key) ORDER BY i.n'
    echo '    ON CONFLICT DO NOTHING RETURNING id, dedupe_key'
    echo ')'
    echo 'SELECT i.n, j.id FROM input i LEFT JOIN job j USING (dedupe_key)'
    echo 'ORDER BY i.n;'
}


percentiles() {
    # percentiles FILES...: "P50 P99" of pgbench per-transaction latencies
    cat "$@" | awk '{ print $3 }' | sort -n | awk '
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "0 0"; exit }
            i50 = int(NR * 0.50); if (i50 < 1) i50 = 1
            i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
            print v[i50], v[i99]
        }'
}

pgbench_run() {
    # pgbench_run KIND RUN ROWS: one pgbench measurement
    local kind=$1 run=$2 rows=$3
    local dir=$work/pgbench-$kind-$run out valid=yes note=
    local p0 p1 TIMEFORMAT='%3U %3S'
    mkdir -p "$dir"
    out=$dir/out
    p0=$(cpu_ticks "$pg_master")
    { time (cd "$dir" && "$pg_bin/pgbench" -n -M "$pg_mode" \
        -c "$pg_clients" -j "$pg_jobs" -T "$duration" -l \
        -f "$work/insert-$rows.sql" \
        -D kp="$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
        -D seq=0 -D head="$head" -D tail="$tail" >"$out" 2>&1)
    } 2>"$out.time" || { valid=no; note="pgbench-failed"; }
    p1=$(cpu_ticks "$pg_master")
    local tps txs rows_db lat
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial.*/\1/p' "$out")
    txs=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
    [ -n "$tps" ] || { tps=0; valid=no; note="$note no-tps"; }
    [ -n "$txs" ] || txs=0
    rows_db=$(delivery_rows)
    if [ "$rows_db" -ne $((txs * rows)) ]; then
        valid=no
        note="$note rows=$rows_db-expected-$((txs * rows))"
    fi
    lat=$(percentiles "$dir"/pgbench_log.*)
    local rps
    rps=$(awk -v t="$tps" -v r="$rows" 'BEGIN { printf "%.1f", t * r }')
    local cpu
    cpu="0 $(per_unit $((p1 - p0)) $((txs * rows)))"
    cpu="$cpu $(client_cpu "$out.time" $((txs * rows)))"
    record "$kind $run $valid $rps $lat $rows $cpu ${note# }"
    printf '  (%s) run %s: %8s rows/s (%s tx/s)  tx p50 %6s us  p99 %7s us' \
        "$kind" "$run" "$rps" "$tps" ${lat}
    printf '  cpu us/row pg %s pgbench %s %s\n' ${cpu#0 } \
        "$([ $valid = yes ] || echo "INVALID ${note# }"; true)"
    if [ $valid = no ]; then
        grep -iE 'error|abort|fail' "$out" | head -5 | sed 's/^/      /'
    fi
    rm -f "$dir"/pgbench_log.*
}


# --- conditions ----------------------------------------------------------

pg_setting() { psql_q -c "SHOW $1"; }

echo
echo "== webhook benchmark: $(date -u '+%Y-%m-%d %H:%M UTC') on $(hostname)"
echo "   cpu: $(nproc) cores ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   $("$nginx_bin" -v 2>&1), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), $("$pg_bin/pgbench" --version)"
echo "   PostgreSQL $(pg_setting server_version): fsync=$(pg_setting fsync) synchronous_commit=$(pg_setting synchronous_commit) shared_buffers=$(pg_setting shared_buffers) wal_buffers=$(pg_setting wal_buffers)"
echo "   wrk: $wrk_threads threads, $conns connections, ${duration}s (paced: ${lat_duration}s); bodies: $body_size B report entities, $bodies unique, HMAC-SHA512 signed"
echo "   pgbench: $pg_clients clients, $pg_jobs threads, -M $pg_mode, ${duration}s; $runs runs each, interleaved"
echo

pgbench_script 1 >"$work/insert-1.sql"
pgbench_script "$batch" >"$work/insert-$batch.sql"

: >"$work/results"

if [ -n "$have_module" ]; then
    say "warming up (a) for 2 s"
    reset_tables
    wrk -t "$wrk_threads" -c "$conns" -d 2s -s bench/webhook.lua \
        "http://127.0.0.1:$port_a/webhooks/tracktik" \
        -- "$bodies_dir" max 0 "$wrk_threads" >"$work/warmup.out" 2>&1 || true
    grep '^BENCH' "$work/warmup.out" | sed 's/^/    /' || true
    # a timed run must not run out of unique bodies: if the warm-up rate
    # says it would, generate more (half as many again as it needs)
    need=$(sed -n 's/^BENCH requests=.* rps=\([0-9]*\).*/\1/p' \
           "$work/warmup.out")
    need=$(( ${need:-0} * duration * 3 / 2 ))
    if [ "$need" -gt "$bodies" ]; then
        generate $(( (need + 99999) / 100000 * 100000 ))
    fi
fi

for run in $(seq 1 "$runs"); do
    echo "-- round $run of $runs (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    if [ -n "$have_module" ] && want a; then
        reset_tables
        # the last round is scraped halfway through, as Prometheus would
        if [ "$run" = "$runs" ]; then
            (sleep $(( (duration + 1) / 2 ))
             curl -s "http://127.0.0.1:$port_a/metrics" \
                 >"$work/metrics-during-a.txt" 2>&1 || true) &
            scraper=$!
        fi
        wrk_run a "$run" "$port_a" max
        [ -z "${scraper:-}" ] || wait "$scraper" || true
    fi
    if want b; then
        wrk_run b "$run" "$port_b" max
    fi
    if want c; then
        reset_tables
        pgbench_run c "$run" 1
    fi
    if want d; then
        reset_tables
        pgbench_run d "$run" "$batch"
    fi
done

if want e || want f; then
    echo "-- ack latency: wrk paced at $rate requests/s, $conns connections" \
         "(load average $(cut -d' ' -f1-3 /proc/loadavg))"
    for run in $(seq 1 "$runs"); do
        if [ -n "$have_module" ] && want e; then
            reset_tables
            wrk_run e "$run" "$port_a" paced
        fi
        if want f; then
            wrk_run f "$run" "$port_b" paced
        fi
    done
    if [ -z "$have_module" ] && want e; then
        say "SKIP (e): no module"
    fi
fi
reset_tables


# --- summary -------------------------------------------------------------

summary() {
    # summary KIND: "N_VALID N_RUNS MEDIAN_RPS MEDIAN_P50 MEDIAN_P99
    #                MEDIAN_ROWS_PER_COMMIT MEDIAN_NGINX_CPU MEDIAN_PG_CPU
    #                MEDIAN_CLIENT_CPU"
    awk -v k="$1" '
        function median(a, n,    i, j, t) {
            for (i = 2; i <= n; i++)
                for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
                    t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
                }
            if (n == 0) return 0
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        $1 == k { total++ }
        $1 == k && $3 == "yes" {
            n++; r[n] = $4; p[n] = $5; q[n] = $6; b[n] = $7
            x[n] = $8; y[n] = $9; z[n] = $10
        }
        END {
            printf "%d %d %.0f %.0f %.0f %.1f %.0f %.0f %.0f\n", n, total,
                median(r, n), median(p, n), median(q, n), median(b, n),
                median(x, n), median(y, n), median(z, n)
        }' "$work/results"
}

ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a > 0) printf "%.2f", a / b; else printf "n/a" }'
}

read -r va ta ra pa qa ba xa ya za <<<"$(summary a)"
read -r vb tb rb pb qb bb xb yb zb <<<"$(summary b)"
read -r vc tc rc pc qc bc xc yc zc <<<"$(summary c)"
read -r vd td rd pd qd bd xd yd zd <<<"$(summary d)"
read -r ve te re pe qe be xe ye ze <<<"$(summary e)"
read -r vf tf rf pf qf bf xf yf zf <<<"$(summary f)"

row() {
    # row LABEL VALID TOTAL RATE P50 P99 ROWS_PER_COMMIT
    if [ "$3" -eq 0 ]; then
        printf '%-50s %8s %7s %7s %7s  %s\n' "$1" - - - - "not run"
    else
        printf '%-50s %8s %7s %7s %7s  %s/%s\n' "$1" "$4" "$(ms "$5")" \
            "$(ms "$6")" "$7" "$2" "$3"
    fi
}

echo
echo "== summary: medians of valid runs (${duration}s each, paced ${lat_duration}s)," \
     "$(nproc) cores shared by nginx, PostgreSQL, wrk/pgbench and the neighbours"
printf '%-50s %8s %7s %7s %7s  %s\n' "measurement" "per sec" "p50 ms" "p99 ms" \
    "rows/tx" "valid"
row "(a) module: 2 workers, pool=$pg_pool, wrk c=$conns" "$va" "$ta" "$ra" "$pa" "$qa" "$ba"
row "(b) nginx return 202, wrk c=$conns" "$vb" "$tb" "$rb" "$pb" "$qb" -
row "(c) pgbench 1 row/tx, $pg_clients clients (rows/s)" "$vc" "$tc" "$rc" "$pc" "$qc" "$bc"
row "(d) pgbench $batch rows/tx, $pg_clients clients (rows/s)" "$vd" "$td" "$rd" "$pd" "$qd" "$bd"
row "(e) module paced at $rate req/s, wrk c=$conns" "$ve" "$te" "$re" "$pe" "$qe" "$be"
row "(f) nginx return 202 paced at $rate req/s" "$vf" "$tf" "$rf" "$pf" "$qf" -
echo "    wrk latencies are per request, pgbench latencies per transaction;" \
     "rows/tx: rows per committed transaction (module: group commit)"
echo
if [ -n "$pg_master" ]; then
    cpu_row() {
        # cpu_row LABEL VALID NGINX PG CLIENT
        if [ "$2" -gt 0 ]; then
            printf '%-50s %8s %8s %8s\n' "$1" "$3" "$4" "$5"
        fi
    }
    echo "CPU microseconds per request (pgbench: per row), medians" \
     "(less sensitive to the neighbours' load than the rates):"
    printf '%-50s %8s %8s %8s\n' "" nginx postgres client
    cpu_row "(a) module" "$va" "$xa" "$ya" "$za"
    cpu_row "(b) nginx return 202" "$vb" "$xb" "$yb" "$zb"
    cpu_row "(c) pgbench 1 row/tx" "$vc" - "$yc" "$zc"
    cpu_row "(d) pgbench $batch rows/tx" "$vd" - "$yd" "$zd"
    cpu_row "(e) module paced at $rate req/s" "$ve" "$xe" "$ye" "$ze"
    echo
fi
if [ "$va" -gt 0 ]; then
    echo "ratios: module/(d) = $(ratio "$ra" "$rd") (target >= 0.7)," \
         "module/(c) = $(ratio "$ra" "$rc") (target >= 2.5)," \
         "module/(b) = $(ratio "$ra" "$rb")"
else
    echo "ratios: n/a (no valid module runs)"
fi
if [ "$ve" -gt 0 ]; then
    echo "ack latency at $re req/s: p50 $(ms "$pe") ms, p99 $(ms "$qe") ms" \
         "(target p99 < 5 ms)$([ "$vf" -eq 0 ] || echo "; nginx return 202 at the same pace: p99 $(ms "$qf") ms")"
fi
if [ -s "$work/metrics-during-a.txt" ]; then
    echo
    echo "/metrics scraped halfway through the last (a) run (HELP and TYPE" \
         "lines left out; counters count since nginx started, warm-up included):"
    grep -v '^#' "$work/metrics-during-a.txt" | sed 's/^/    /'
    echo
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); details in $work"

invalid=$(awk '$3 != "yes"' "$work/results" | wc -l)
if [ "$invalid" -gt 0 ]; then
    echo "webhook-bench: $invalid invalid run(s), see above" >&2
    exit 1
fi
