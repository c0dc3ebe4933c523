#!/usr/bin/env bash
# pull-bench: `tracktik-worker pull` against the simulator at 1,000
# reports a page, each run into a new database (so its first pull lists
# the clients too, as a new tenant's does): the TrackTik requests it used,
# split into pages of reports and reference listings (clients, sites,
# posts), per 10,000 reports (the issue's target: at most 12); reports/s
# listed and queued; reports/s processed into the ledger.  Scenarios:
# 10,000 reports in one month, over four months (the issue's case), and
# 20,000 over four months; and 10,000 over twelve months, where a month
# holds less than a page (TrackTik's one-month limit on :between then
# costs a page a month, whatever the pull does).
#
#   bench/pull-bench.sh              RUNS=N (default 3) runs a scenario;
#                                    the medians are printed
#
# Starts its own simulator on a free port (stopped at the end) and a
# database per run (created, migrated, dropped).  Needs
# build/tracktik-worker, python3 and a PostgreSQL as worker-bench.sh does.
# Prints figures; fails only when a pull failed or reports went missing.
set -euo pipefail

cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}

. bench/pg-env.sh
bench_need_worker pull-bench

tmp=$(mktemp -d)
sim_pid=

cleanup() {
    if [ -n "$sim_pid" ]; then
        kill "$sim_pid" 2>/dev/null || true
        wait "$sim_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# SQL on the cluster as the tracktik role, else as the superuser on its
# behalf (trust on loopback), as the tests do
as_admin() {
    local user
    for user in "$PGUSER" postgres; do
        psql -qX -U "$user" -d postgres -c "$1" >/dev/null 2>&1 && return 0
    done
    return 1
}

# the simulator's /rest/ requests so far: "reports reference all" (the
# token endpoint counts in all only)
sim_requests() {
    curl -sf "$sim/__sim/state" | python3 -c '
import json, sys
d = json.load(sys.stdin)["requests"]
rest = {k: v for k, v in d.items() if " /rest/" in k}
reports = rest.get("GET /rest/v1/reports", 0)
reference = sum(rest.get("GET /rest/v1/" + r, 0)
                for r in ("clients", "positions"))
print(reports, reference, sum(rest.values()))'
}

now_s() { date +%s.%N; }

# the median of the numbers on stdin
median() {
    sort -g | awk '{ v[NR] = $1 } END {
        print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

python3 sim/tracktik_sim.py --port 0 --quiet --history 1 \
    >"$tmp/sim.out" 2>"$tmp/sim.err" &
sim_pid=$!
for _ in $(seq 100); do
    grep -q 'listening on' "$tmp/sim.out" 2>/dev/null && break
    sleep 0.1
done
sim=$(grep -o 'http://[0-9.]*:[0-9]*' "$tmp/sim.out" | head -1)
if [ -z "$sim" ]; then
    echo "pull-bench: the simulator did not start: $(cat "$tmp/sim.err")" >&2
    exit 1
fi
echo demo-secret >"$tmp/client.secret"

# one pull into a new database: "listed reports reference all listed/s
# ledger/s" on stdout
run_once() {
    local from=$1 to=$2 made=$3 db=$4 dsn before after t0 t1 t2 listed
    local rows status=0
    dsn="host=$PGHOST port=$PGPORT dbname=$db user=$PGUSER"

    as_admin "DROP DATABASE IF EXISTS $db" || true
    as_admin "CREATE DATABASE $db OWNER $PGUSER"

    "$WORKER" migrate --dsn "$dsn" >/dev/null
    "$WORKER" contracts load conf/contracts.example.json --dsn "$dsn" \
        >/dev/null
    echo api-password | "$WORKER" auth login --url "$sim" --client-id demo \
        --client-secret-file "$tmp/client.secret" --username api \
        --password-stdin --dsn "$dsn" >/dev/null

    before=$(sim_requests)
    t0=$(now_s)
    if "$WORKER" pull --from "$from" --to "$to" --no-process --dsn "$dsn" \
           >"$tmp/pull.out" 2>"$tmp/pull.err"
    then
        t1=$(now_s)
        after=$(sim_requests)
        "$WORKER" run --drain --dsn "$dsn" 2>"$tmp/drain.err"
        t2=$(now_s)

        listed=$(sed -n 's/.* \([0-9]*\) reports listed.*/\1/p' \
                     "$tmp/pull.out")
        rows=$(psql -qXAt -d "$db" -c "SELECT count(*) FROM incidents_ledger
            WHERE occurred_at >= '$from'
              AND occurred_at < timestamptz '$to' + interval '1 day'")
        if [ "$listed" -lt $((made * 99 / 100)) ] || [ "$rows" -ne "$listed" ]
        then
            echo "pull-bench: $made made, $listed listed, $rows in the" \
                 "ledger" >&2
            status=1
        fi
        awk -v l="$listed" -v b="$before" -v e="$after" -v a="$t0" \
            -v p="$t1" -v c="$t2" 'BEGIN {
            split(b, x, " "); split(e, y, " ")
            printf "%d %d %d %d %.0f %.0f\n", l, y[1] - x[1], y[2] - x[2],
                y[3] - x[3], l / (p - a), l / (c - p) }'
    else
        echo "pull-bench: pull failed: $(tail -3 "$tmp/pull.err")" >&2
        status=1
    fi

    as_admin "DROP DATABASE IF EXISTS $db" || true
    return $status
}

# a scenario: N reports over [from, to], RUNS pulls of them; medians
scenario() {
    local name=$1 from=$2 to=$3 n=$4 seed=$5 made i out
    made=$(curl -sf -X POST "$sim/__sim/reports" -d "{\"count\": $n,
        \"from\": \"$from\", \"to\": \"$to\", \"seed\": $seed}" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["created"])')

    : >"$tmp/runs"
    for i in $(seq "$RUNS"); do
        out=$(run_once "$from" "$to" "$made" "tt_pull_bench_$$_${seed}_$i") \
            || return 1
        echo "$out" >>"$tmp/runs"
    done

    # requests are the same every run; the rates vary: medians
    awk -v n="$name" 'NR == 1 {
        printf "%-26s %8d %8d %9d %8d %9.1f", n, $1, $2, $3, $4,
            $4 * 10000 / $1 }' "$tmp/runs"
    printf ' %9.0f %9.0f\n' "$(cut -d' ' -f5 "$tmp/runs" | median)" \
        "$(cut -d' ' -f6 "$tmp/runs" | median)"
}

echo "pull-bench: limit=1000, simulator $sim, medians of $RUNS runs"
printf '%-26s %8s %8s %9s %8s %9s %9s %9s\n' scenario reports pages \
    reference all 'all/10k' 'listed/s' 'ledger/s'

status=0
scenario "10,000 in one month" 2025-01-01 2025-01-31 10000 1 || status=1
scenario "10,000 over four months" 2025-03-01 2025-06-30 10000 2 || status=1
scenario "20,000 over four months" 2025-07-01 2025-10-31 20000 3 || status=1
scenario "10,000 over twelve months" 2023-01-01 2023-12-31 10000 4 \
    || status=1
echo "pages: GET /rest/v1/reports; reference: the clients' (and posts')"
echo "listings; all: every /rest/ call the simulator answered during the"
echo "pull (token refreshes and retries too)"
exit $status
