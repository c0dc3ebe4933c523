# Shell functions of bench/portal-bench.sh (sourced, not run): the
# summary table, from $work/results and $work/csv-results.
#
#   one, ms, ratio        number formats
#   target KIND           the p99 target's verdict
#   row, ratio_row        a line of the table; a ratio of two kinds
#   csv_row KIND LABEL    the CSV export's lines (csv_median, csv_rss)
#
# Expects $work, $runs, $csv_max_time and median (portal-measure.sh).

one() { awk -v v="$1" 'BEGIN { if (v == "-") print "-"; else printf "%.1f", v }'; }
ms() { awk -v u="$1" 'BEGIN { if (u == "-") print "-"; else printf "%.2f", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
target() {
    # target KIND: the p99 target's verdict
    local p
    p=$(median "$1" 6)
    if [ "$p" = - ]; then echo "-"
    elif awk -v p="$p" 'BEGIN { exit !(p < 10000) }'; then echo "met (<10 ms)"
    else echo "MISSED (>=10 ms)"; fi
}
valid_runs() { awk -v k="$1" '$1 == k && $3 == "yes"' "$work/results" | wc -l; }

row() {
    # row LABEL KIND: nothing when KIND was not measured
    [ -n "$(awk -v k="$2" '$1 == k' "$work/results")" ] || return 0
    printf '  %-40s %4s  %9s  %8s  %8s  %s\n' "$1" "$(valid_runs "$2")/$runs" \
        "$(one "$(median "$2" 4)")" "$(ms "$(median "$2" 5)")" \
        "$(ms "$(median "$2" 6)")" \
        "${3:-}"
}
ratio_row() {
    # ratio_row LABEL KIND BASE-KIND: nothing unless both were measured
    [ -n "$(awk -v k="$2" '$1 == k' "$work/results")" ] || return 0
    [ -n "$(awk -v k="$3" '$1 == k' "$work/results")" ] || return 0
    printf '  %-40s %4s  %9s  %8s  %8s\n' "$1" "" \
        "$(ratio "$(median "$2" 4)" "$(median "$3" 4)")" \
        "$(ratio "$(median "$2" 5)" "$(median "$3" 5)")" \
        "$(ratio "$(median "$2" 6)" "$(median "$3" 6)")"
}

csv_median() {
    # csv_median KIND COLUMN (4 rows/s, 5 rows, 6 seconds)
    awk -v k="$1" -v c="$2" '$1 == k { print $c }' "$work/csv-results" \
        | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-";
                          else if (NR % 2) print v[(NR + 1) / 2];
                          else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
csv_rss() {
    # the lowest min and highest max RSS of each worker over all runs, MB
    awk -v k="$1" '$1 == k { for (i = 9; i <= NF; i++) if ($i ~ /^[0-9]+:/) {
                       split($i, a, /[:\/-]/)
                       if (!(a[1] in lo) || a[2] < lo[a[1]]) lo[a[1]] = a[2]
                       if (a[3] > hi[a[1]]) hi[a[1]] = a[3] } }
                   END { for (p in lo) printf "pid %s %.1f-%.1f MB; ", p,
                                                lo[p] / 1024, hi[p] / 1024 }' \
        "$work/csv-results"
}
csv_row() {
    local kind=$1 label=$2 n valid skipped
    n=$(awk -v k="$kind" '$1 == k' "$work/csv-results" | wc -l)
    [ "$n" -gt 0 ] || return 0
    skipped=$(awk -v k="$kind" '$1 == k && $3 == "skipped" { print $NF }' \
                  "$work/csv-results")
    if [ -n "$skipped" ]; then
        printf '  %-40s       not run: %s (CSV_MAX_TIME %s s)\n' "$label" \
            "${skipped//-/ }" "$csv_max_time"
        return 0
    fi
    valid=$(awk -v k="$kind" '$1 == k && $3 == "yes"' "$work/csv-results" | wc -l)
    printf '  %-40s %4s  %9s rows/s  %s rows in %s s%s\n' "$label" "$valid/$n" \
        "$(csv_median "$kind" 4)" "$(csv_median "$kind" 5)" \
        "$(one "$(csv_median "$kind" 6)")" \
        "$([ "$valid" = "$n" ] || echo "  (cut off at CSV_MAX_TIME or failed: $(awk -v k="$kind" '$1 == k && $3 != "yes" { print $NF; exit }' "$work/csv-results"))")"
    printf '  %-40s       rate over 0.5 s samples, min/median/max rows/s, per run: %s\n' "" \
        "$(awk -v k="$kind" '$1 == k { printf "%s ", $8 }' "$work/csv-results")"
    printf '  %-40s       nginx workers RSS min-max: %s\n' "" "$(csv_rss "$kind")"
}
