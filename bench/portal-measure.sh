# Shell functions of bench/portal-bench.sh (sourced, not run): the
# page and ack measurements, each run one line in $work/results.
#
#   pg_scripts KIND, tokens     the pgbench scripts of the baselines
#   record, field               a result line; a field of wrk's BENCH line
#   wrk_run, pgbench_run        one run of the pages (nginx; pgbench)
#   check_pg_scripts KIND       the baselines get the answers nginx relays
#   ack_generate, ack_run       webhook acks, alone or during a login storm
#   explain_call                EXPLAIN ANALYZE inside a portal function
#   median, missed              a kind's median; its p99 target missed
#
# Expects the settings of portal-bench.sh ($work, $base, $origin, $db,
# $conns, $duration, the ACK_* ones...) and its die, say, bq, su_q.

# pgbench: one script per user, chosen at random by pgbench
pg_scripts() {
    # pg_scripts KIND: writes $work/pg-KIND-<n>.sql, prints the -f options
    local kind=$1 n=0 who token cursor
    while read -r who token cursor; do
        n=$((n + 1))
        echo "SELECT * FROM portal_api_incidents('$token', '', '', '', '', '', '', '${cursor:-}', '50');" \
            >"$work/pg-$kind-$n.sql"
        printf ' -f %s' "$work/pg-$kind-$n.sql"
    done
}

tokens() {
    # the raw session tokens (the cookie minus the signature)
    sed 's/^\([^ ]*\) tt_session=\([0-9a-f]*\)\..*/\1 \2/' "$work/client-cookies"
}

# results: one line per run in $work/results:
#   KIND RUN VALID RPS P50_US P99_US NOTE
record() { echo "$*" >>"$work/results"; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

wrk_run() {
    # wrk_run KIND RUN FILE EXPECT CONNECTIONS SECONDS [RATE]
    local kind=$1 run=$2 file=$3 expect=$4 c=$5 secs=$6 rate=${7:-}
    local out=$work/wrk-$kind-$run.out line valid=yes note= t
    t=$((c < 2 ? c : 2))
    wrk -t "$t" -c "$c" -d "${secs}s" --timeout 10s -s bench/portal.lua \
        "$base/" -- "$file" "$expect" "$origin" ${rate:+"$rate" "$t"} \
        >"$out" 2>&1 || true
    line=$(grep '^BENCH requests=' "$out" || true)
    if [ -z "$line" ]; then
        say "($kind) run $run: no result from wrk:"
        sed 's/^/    /' "$out"
        record "$kind $run no 0 0 0 wrk-failed"
        return
    fi
    local statuses errors
    statuses=$(field statuses "$line")
    errors=$(field errors "$line")
    if [[ ! "$statuses" =~ ^$expect:[0-9]+$ ]]; then
        valid=no
        note="statuses=$statuses"
    fi
    if [ "$errors" != "0,0,0,0" ]; then
        valid=no
        note="$note socket-errors=$errors"
    fi
    record "$kind $run $valid $(field rps "$line") $(field p50_us "$line")" \
        "$(field p99_us "$line") ${note# }"
    printf '  %-6s run %s: %8s req/s  p50 %6s us  p99 %7s us  %s %s\n' \
        "$kind" "$run" "$(field rps "$line")" "$(field p50_us "$line")" \
        "$(field p99_us "$line")" "$statuses" \
        "$([ $valid = yes ] || echo "INVALID ${note# }")"
    grep '^BENCH sample' "$out" | head -3 | sed 's/^/      /' || true
}

pgbench_run() {
    # pgbench_run KIND RUN OPTIONS: the SQL function called directly
    local kind=$1 run=$2 opts=$3
    local out=$work/pgbench-$kind-$run.out logp=$work/pglog-$kind-$run
    local tps lat valid=yes note=
    # shellcheck disable=SC2086
    "$pg_bin/pgbench" -n -c "$conns" -j 2 -T "$duration" -M extended \
        $opts --log --log-prefix="$logp" "$db" >"$out" 2>&1 || {
        valid=no
        note=pgbench-failed
    }
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out" | head -n 1)
    # per-transaction log: client, transaction, latency in microseconds
    lat=$(cat "$logp".* 2>/dev/null | awk '{ print $3 }' | sort -n \
          | awk '{ v[NR] = $1 }
                 END { if (NR == 0) { print "0 0"; exit }
                       i50 = int(NR * 0.50); if (i50 < 1) i50 = 1
                       i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
                       print v[i50], v[i99] }')
    rm -f "$logp".*
    if grep -q 'failed: [1-9]' "$out"; then
        valid=no
        note="$note failed-transactions"
    fi
    record "$kind $run $valid ${tps:-0} $lat ${note# }"
    printf '  %-6s run %s: %8.1f tx/s   p50 %6s us  p99 %7s us  %s\n' \
        "$kind" "$run" "${tps:-0}" ${lat} \
        "$([ $valid = yes ] || { echo "INVALID ${note# }"; tail -n 3 "$out"; })"
}

# the answers the baselines get must be the ones nginx relays: 200s
check_pg_scripts() {
    local f s
    for f in "$work"/pg-"$1"-*.sql; do
        s=$(bq -c "$(sed 's/SELECT \*/SELECT status/' "$f")")
        [ "$s" = 200 ] || die "$(basename "$f") answers $s, not 200"
    done
}

ack_generate() {
    generate_bodies "$ack_bodies" $((ack_rate * ack_duration * 3 / 2 + 100)) \
        1 "$webhook_secret" >/dev/null
}

ack_run() {
    # ack_run KIND RUN: webhook deliveries paced at ACK_RATE for
    # ACK_DURATION s; with KIND ackstorm, a login storm around it over
    # STORM_CONNECTIONS connections
    local kind=$1 run=$2 out=$work/wrk-$1-$2.out line valid=yes note= storm=
    local sk=${kind/ack/} sc=$storm_conns
    bq -c "TRUNCATE tracktik_jobs, tracktik_deliveries RESTART IDENTITY"
    if [ "$kind" != ack ]; then
        wrk -t 1 -c "$sc" -d "$((ack_duration + 2))s" --timeout 10s \
            -s bench/portal.lua "$base/" -- "$work/req-login" 200 "$origin" \
            >"$work/wrk-$sk-$run.out" 2>&1 &
        storm=$!
        sleep 1
    fi
    wrk -t 1 -c "$ack_conns" -d "${ack_duration}s" --timeout 10s -s bench/webhook.lua \
        "$base/webhooks/tracktik" -- "$ack_bodies" paced "$ack_rate" 1 \
        >"$out" 2>&1 || true
    if [ -n "$storm" ]; then
        wait "$storm" || true
    fi
    line=$(grep '^BENCH requests=' "$out" || true)
    if [ -z "$line" ]; then
        say "($kind) run $run: no result from wrk:"
        sed 's/^/    /' "$out"
        record "$kind $run no 0 0 0 wrk-failed"
        return
    fi
    local statuses
    statuses=$(field statuses "$line")
    if [[ ! "$statuses" =~ ^202:[0-9]+$ ]]; then
        valid=no
        note="statuses=$statuses"
    fi
    [ "$(field wrapped "$line")" = 0 ] || { valid=no; note="$note bodies-wrapped"; }
    record "$kind $run $valid $(field rps "$line") $(field p50_us "$line")" \
        "$(field p99_us "$line") ${note# }"
    printf '  %-8s run %s: %7s req/s  p50 %6s us  p99 %7s us  %s %s\n' \
        "$kind" "$run" "$(field rps "$line")" "$(field p50_us "$line")" \
        "$(field p99_us "$line")" "$statuses" \
        "$([ $valid = yes ] || echo "INVALID ${note# }")"
    if [ -n "$storm" ]; then
        line=$(grep '^BENCH requests=' "$work/wrk-$sk-$run.out" || true)
        record "$sk $run yes $(field rps "$line") $(field p50_us "$line")" \
            "$(field p99_us "$line") statuses=$(field statuses "$line")"
        printf '  %-8s run %s: %7s logins/s  p50 %6s us  p99 %7s us  %s\n' \
            "$sk" "$run" "$(field rps "$line")" "$(field p50_us "$line")" \
            "$(field p99_us "$line")" "$(field statuses "$line")"
    fi
}

# EXPLAIN ANALYZE of the statements run inside a portal function call,
# through auto_explain (needs the postgres superuser)
explain_call() {
    # explain_call SQL-CALL MIN-DURATION-MS
    su_q -d "$db" -c "LOAD 'auto_explain'" \
        -c "SET auto_explain.log_min_duration = '$2ms'" \
        -c "SET auto_explain.log_analyze = on" \
        -c "SET auto_explain.log_buffers = on" \
        -c "SET auto_explain.log_nested_statements = on" \
        -c "SET client_min_messages = log" \
        -c "SELECT status, length(body) FROM $1" 2>&1 \
        | sed -e 's/^LOG:  //' -e 's/^/    /' \
        || echo "    (no EXPLAIN: auto_explain needs the postgres superuser)"
}

median() {
    # median KIND COLUMN (4 rps, 5 p50, 6 p99) over the valid runs
    awk -v k="$1" -v c="$2" '$1 == k && $3 == "yes" { print $c }' \
        "$work/results" | sort -g \
        | awk '{ v[NR] = $1 }
               END { if (NR == 0) print "-";
                     else if (NR % 2) print v[(NR + 1) / 2];
                     else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

missed() {
    # missed KIND: the median p99 is over 10 ms
    local p
    p=$(median "$1" 6)
    [ "$p" != - ] && awk -v p="$p" 'BEGIN { exit !(p > 10000) }'
}
