# Shell functions of bench/portal-bench.sh (sourced, not run): the
# search and stats probes (issue 10, items 2 and 6), each request timed
# alone through nginx, SEARCH_RUNS times, the median reported.
#
#   search_probe NAME COOKIE PATH   one probe: SEARCH_RUNS timed GETs, all 200
#   search_phase                    the probes below, one line each
#
# The probes, on the generated ledger (bench/portal-data.sql):
#   a client's search for a category word (one report in ten), for a
#   word of a site name ($work/probe.json: the client's newest incident), and for a word only a confidential field holds (no
#   match: search reads only what the client may see), the operator's
#   search over every client, and a month and a year of statistics for
#   the operator and for a client (the per-day rollup).
#
# Expects the settings of portal-bench.sh ($work, $base, $origin,
# $operator_cookie, $first_cookie) and its say; writes $work/search-results
# (NAME RUN STATUS SECONDS) and prints a table.

search_probe() {
    # search_probe NAME COOKIE PATH
    local name=$1 cookie=$2 path=$3 run out
    for run in $(seq 1 "${SEARCH_RUNS:-5}"); do
        out=$(curl -sS -o "$work/search-body" --max-time 60 \
                   -w '%{http_code} %{time_total}' \
                   -H "Cookie: $cookie" -H "Origin: $origin" \
                   "$base/portal/api/$path" 2>&1) || out="000 0"
        echo "$name $run $out" >>"$work/search-results"
    done
    # the answer of the last run: how many incidents a search found
    case $name in
    q_*) { grep -o '"occurred_at"' "$work/search-body" || true; } | wc -l ;;
    *) echo - ;;
    esac >"$work/search-count-$name"
}

search_median() {
    # search_median NAME: the median seconds of its 200 answers, in ms
    awk -v n="$1" '$1 == n && $3 == 200 { print $4 * 1000 }' \
        "$work/search-results" | sort -g \
        | awk '{ v[NR] = $1 }
               END { if (NR == 0) { print "-"; exit }
                     m = v[int((NR + 1) / 2)]
                     if (NR % 2 == 0) m = (m + v[NR / 2 + 1]) / 2
                     printf "%.1f\n", m }'
}


search_phase() {
    local month='from=2026-10-01&to=2026-11-01'
    local year='from=2025-11-01&to=2026-11-01'
    : >"$work/search-results"
    say "search and stats probes, ${SEARCH_RUNS:-5} runs each, one at a time"
    search_probe q_category "$first_cookie" 'incidents?q=vandalism&limit=50'
    # a word of the site name of the client's newest incident
    local site
    site=$(sed -n 's/.*"site" : {"id" : [0-9]*, "name" : "\([A-Za-z]*\).*/\1/p' \
               "$work/probe.json" | tr 'A-Z' 'a-z')
    search_probe q_site "$first_cookie" "incidents?q=${site:-mall}&limit=50"
    search_probe q_hidden "$first_cookie" 'incidents?q=internal&limit=50'
    search_probe q_operator "$operator_cookie" 'incidents?q=trespassing&limit=50'
    search_probe stats_op_month "$operator_cookie" "stats?$month"
    search_probe stats_op_year "$operator_cookie" "stats?$year"
    search_probe stats_client_month "$first_cookie" "stats?$month"
    search_probe stats_client_year "$first_cookie" "stats?$year"
}

search_table() {
    local name bad
    printf '  %-40s %9s  %s\n' "" "median ms" "answers (first page)"
    for name in q_category q_site q_hidden q_operator stats_op_month \
                stats_op_year stats_client_month stats_client_year; do
        bad=$(awk -v n="$name" '$1 == n && $3 != 200' \
                  "$work/search-results" | wc -l)
        printf '  %-40s %9s  %s%s\n' "$name" "$(search_median "$name")" \
            "$(cat "$work/search-count-$name" 2>/dev/null || echo -)" \
            "$([ "$bad" = 0 ] || echo " ($bad not 200)")"
    done
}
