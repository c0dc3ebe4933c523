# Shell functions of bench/portal-bench.sh (sourced, not run): the
# operator's CSV export, measured, in $work/csv-results.
#
#   rss_sampler PID       the nginx workers' RSS and curl's bytes, each 0.5 s
#   csv_run KIND RUN      one streamed export
#   csv_window            the occurred_at window of about CSV_ROWS rows
#   probe_ms, median3_ms  one operator request's time; the median of three
#   csv_phase KIND        the page probes, then the exports (or the skip)
#   operator_page_sql     the page statement, for a plain EXPLAIN
#
# Expects the settings of portal-bench.sh ($work, $base, $db, the CSV_*
# ones, $operator_cookie, $operator_token, $workers...) and its say, bq.

rss_sampler() {
    # every 0.5 s: "<seconds> <pid> <VmRSS kB>" for each nginx worker, and
    # "<seconds> curl <bytes read>" for the curl process given
    local p curl_pid=$1 t
    while :; do
        t=$(date +%s.%N)
        for p in $workers; do
            awk -v t="$t" -v p="$p" '/^VmRSS:/ { print t, p, $2 }' \
                "/proc/$p/status" 2>/dev/null || true
        done
        awk -v t="$t" '/^wchar:/ { print t, "curl", $2 }' \
            "/proc/$curl_pid/io" 2>/dev/null || true
        sleep 0.5
    done
}

csv_run() {
    # csv_run KIND RUN: the operator's export of the window, to /dev/null
    # (lines counted on the way), nginx workers' RSS and curl's progress
    # sampled meanwhile
    local kind=$1 run=$2 out=$work/csv-$kind-$run
    local lines stat code bytes secs valid=yes note= rss curl_pid wc_pid
    rm -f "$out.fifo"
    mkfifo "$out.fifo"
    wc -l <"$out.fifo" >"$out.lines" &
    wc_pid=$!
    curl -sS --max-time "$csv_max_time" -H "Cookie: $operator_cookie" \
        -w '%{stderr}%{http_code} %{size_download} %{time_total}\n' \
        -o "$out.fifo" \
        "$base/portal/api/incidents.csv?from=$csv_from&to=$csv_to" \
        2>"$out.curl" &
    curl_pid=$!
    rss_sampler "$curl_pid" >"$out.rss" &
    sampler=$!
    wait "$curl_pid" || true
    wait "$wc_pid" || true
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    sampler=
    rm -f "$out.fifo"
    lines=$(cat "$out.lines")
    stat=$(grep -E '^[0-9]{3} ' "$out.curl" | tail -n 1)
    read -r code bytes secs <<<"${stat:-0 0 0}"
    if [ "$code" != 200 ]; then
        valid=no
        note="status=$code"
    fi
    if grep -qi 'timed out\|error' "$out.curl"; then
        valid=no
        note="$note $(grep -i 'curl:' "$out.curl" | head -n 1 | tr ' ' '_')"
    fi
    rows_out=$((lines > 0 ? lines - 1 : 0))
    # min and max RSS of each worker over the export, kB
    rss=$(awk '$2 != "curl" { if (!($2 in lo) || $3 < lo[$2]) lo[$2] = $3
                 if ($3 > hi[$2]) hi[$2] = $3; n[$2]++ }
               END { for (p in lo) printf "%s:%d-%d/%d ", p, lo[p], hi[p], n[p] }' \
          "$out.rss")
    local rps steady
    rps=$(awk -v r="$rows_out" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? r / s : 0) }')
    # the rate over each 0.5 s sample of curl's bytes read, in rows/s
    # (at the export's mean bytes per row): min/median/max, leaving out
    # the first and the last interval
    steady=$(awk -v r="$rows_out" -v b="$bytes" '
        $2 == "curl" { n++; t[n] = $1; v[n] = $3 }
        END { k = 0
              for (i = 3; i < n; i++) {
                  dt = t[i] - t[i - 1]
                  if (dt > 0 && r > 0) rate[++k] = (v[i] - v[i - 1]) / dt / (b / r)
              }
              if (k == 0) { print "-"; exit }
              for (i = 2; i <= k; i++) {    # insertion sort (mawk)
                  x = rate[i]
                  for (j = i - 1; j >= 1 && rate[j] > x; j--) rate[j + 1] = rate[j]
                  rate[j + 1] = x
              }
              printf "%.0f/%.0f/%.0f", rate[1], rate[int((k + 1) / 2)], rate[k] }' \
        "$out.rss")
    # KIND RUN VALID ROWS/S ROWS SECONDS BYTES RSS... NOTE
    echo "$kind $run $valid $rps $rows_out $secs $bytes $steady ${rss% } ${note# }" \
        >>"$work/csv-results"
    printf '  %-6s run %s: %8s rows/s  %8s rows  %7.2f s  %s MB  0.5 s rates min/median/max %s rows/s  RSS kB (worker:min-max/samples) %s %s\n' \
        "$kind" "$run" "$rps" "$rows_out" "$secs" \
        "$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')" "$steady" "$rss" \
        "$([ $valid = yes ] || echo "INVALID ${note# }")"
}

# the window of the CSV export: the newest ~CSV_ROWS rows an operator sees
# (estimated from a 1% sample of the ledger)
csv_window() {
    bq -F ' ' -c "
        WITH s AS (
            SELECT count(*) FILTER (WHERE status = 'APPROVED'
                                      AND portal_current(report_id, version))
                       * 100.0 AS visible,
                   min(occurred_at) AS lo, max(occurred_at) AS hi
              FROM incidents_ledger TABLESAMPLE SYSTEM (1) REPEATABLE (1))
        SELECT to_char(t - (extract(epoch FROM s.hi - s.lo)
                            * least(1.0, $csv_rows / s.visible))
                           * interval '1 second',
                       'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
               to_char(t, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
          FROM s, LATERAL (SELECT date_trunc('day', s.hi AT TIME ZONE 'UTC')
                                  + interval '1 day' AS t) x"
}

# one request's time, in ms (the operator's pages)
probe_ms() {
    # probe_ms PATH: one operator request's time in ms (">N000" when it
    # takes over PROBE_MAX_TIME seconds)
    local out
    out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' \
              --max-time "$probe_max" -H "Cookie: $operator_cookie" \
              "$base$1") || true
    case "$out" in
        200\ *) awk -v t="${out#* }" 'BEGIN { printf "%.1f", t * 1000 }' ;;
        *)      echo ">${probe_max}000" ;;
    esac
}

median3_ms() {
    local a b c
    a=$(probe_ms "$1"); b=$(probe_ms "$1"); c=$(probe_ms "$1")
    printf '%s\n%s\n%s\n' "$a" "$b" "$c" | sort -n | sed -n 2p
}

csv_phase() {
    # csv_phase KIND: the operator's first JSON page (median of 3 when it
    # is fast) and one 1,000-row page of the export (the SQL function,
    # psql), each given PROBE_MAX_TIME; then the export itself CSV_RUNS
    # times, unless the page says it would take longer than CSV_MAX_TIME:
    # then it is skipped and the estimate reported
    local kind=$1 page_ms est t0 t1
    op_first_ms=$(probe_ms "/portal/api/incidents")
    if awk -v m="$op_first_ms" 'BEGIN { exit !(m + 0 > 0 && m < 1000) }'; then
        op_first_ms=$(median3_ms "/portal/api/incidents")
    fi
    t0=$(date +%s%N)
    if bq -c "SET statement_timeout = '${probe_max}s'" \
          -c "SELECT length(body) FROM portal_api_incidents_csv('$operator_token',
                  '', '', '', '$csv_from', '$csv_to', '', '')" \
          >/dev/null 2>"$work/probe.err"; then
        t1=$(date +%s%N)
        page_ms=$(( (t1 - t0) / 1000000 ))
        est=$(awk -v m="$page_ms" -v r="$csv_rows" \
                  'BEGIN { printf "%.0f", m * r / 1000 / 1000 }')
    else
        page_ms=">${probe_max}000"
        est=$(awk -v m="$probe_max" -v r="$csv_rows" \
                  'BEGIN { printf "%.0f", m * r / 1000 }')
        est=">$est"
    fi
    eval "${kind}_op_first_ms=\$op_first_ms ${kind}_page_ms=\$page_ms"
    say "($kind) operator: first JSON page ${op_first_ms} ms; one export" \
        "page (SQL) ${page_ms} ms, so the whole export ~${est} s"
    if [ "${est#>}" -gt "$csv_max_time" ]; then
        say "($kind) export skipped: ~${est} s is over CSV_MAX_TIME=${csv_max_time} s"
        echo "$kind 0 skipped 0 0 0 0 - estimated-${est#>}s" >>"$work/csv-results"
        return
    fi
    for run in $(seq 1 "$csv_runs"); do
        csv_run "$kind" "$run"
    done
}

# the operator's page statement as portal_incidents_page() runs it with no
# filters (the custom plan folds the empty parameters away): for a plain
# EXPLAIN when running it would take too long
operator_page_sql() {
    echo "SELECT l.* FROM incidents_ledger l
           WHERE l.status = 'APPROVED' $1
             AND NOT EXISTS (SELECT 1 FROM incidents_ledger n
                              WHERE n.report_id = l.report_id
                                AND n.version > l.version)
           ORDER BY l.occurred_at DESC, l.report_id DESC LIMIT $2"
}
