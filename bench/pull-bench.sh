#!/usr/bin/env bash
# pull-bench: `tracktik-worker pull` against the simulator at 1,000
# reports a page: reports/s listed and queued, reports/s processed into
# the ledger, and TrackTik requests used per 10,000 reports (target: at
# most 12), for 10,000 reports in one month and spread over four months
# (one-month windows: more, shorter pages).
#
#   bench/pull-bench.sh              REPORTS=N to change the 10,000
#
# Starts its own simulator on a free port (stopped at the end) and a
# database per run (created, migrated, dropped).  Needs
# build/tracktik-worker, python3 and a PostgreSQL as worker-bench.sh does.
# Prints figures; fails only when a pull failed or reports went missing.
set -euo pipefail

cd "$(dirname "$0")/.."

REPORTS=${REPORTS:-10000}

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

# the simulator's /rest/ requests so far (token endpoint included)
sim_requests() {
    curl -sf "$sim/__sim/state" | python3 -c '
import json, sys
d = json.load(sys.stdin)["requests"]
print(sum(v for k, v in d.items() if " /rest/" in k))'
}

now_s() { date +%s.%N; }

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

echo "pull-bench: $REPORTS reports per run, limit=1000, simulator $sim"
printf '%-28s %8s %8s %10s %10s %14s\n' scenario reports requests \
    'listed/s' 'ledger/s' 'req/10k'

run() {
    local name=$1 from=$2 to=$3 db="tt_pull_bench_$$_$4" dsn before after
    local t0 t1 t2 made listed rows
    dsn="host=$PGHOST port=$PGPORT dbname=$db user=$PGUSER"

    as_admin "DROP DATABASE IF EXISTS $db" || true
    as_admin "CREATE DATABASE $db OWNER $PGUSER"
    trap 'as_admin "DROP DATABASE IF EXISTS '"$db"'" || true' RETURN

    "$WORKER" migrate --dsn "$dsn" >/dev/null
    "$WORKER" contracts load conf/contracts.example.json --dsn "$dsn" \
        >/dev/null
    echo api-password | "$WORKER" auth login --url "$sim" --client-id demo \
        --client-secret-file "$tmp/client.secret" --username api \
        --password-stdin --dsn "$dsn" >/dev/null

    made=$(curl -sf -X POST "$sim/__sim/reports" -d "{\"count\": $REPORTS,
        \"from\": \"$from\", \"to\": \"$to\", \"seed\": $4}" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["created"])')

    before=$(sim_requests)
    t0=$(now_s)
    "$WORKER" pull --from "$from" --to "$to" --no-process --dsn "$dsn" \
        >"$tmp/pull.out" 2>"$tmp/pull.err" || {
        echo "pull-bench: pull failed: $(tail -3 "$tmp/pull.err")" >&2
        return 1
    }
    t1=$(now_s)
    after=$(sim_requests)
    "$WORKER" run --drain --dsn "$dsn" 2>"$tmp/drain.err"
    t2=$(now_s)

    listed=$(sed -n 's/.* \([0-9]*\) reports listed.*/\1/p' "$tmp/pull.out")
    rows=$(psql -qXAt -d "$db" -c "SELECT count(*) FROM incidents_ledger
        WHERE occurred_at >= '$from'
          AND occurred_at < timestamptz '$to' + interval '1 day'")
    if [ "$listed" -lt $((made * 99 / 100)) ] || [ "$rows" -ne "$listed" ]
    then
        echo "pull-bench: $made made, $listed listed, $rows in the ledger" >&2
        return 1
    fi

    awk -v n="$name" -v l="$listed" -v r=$((after - before)) \
        -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
        printf "%-28s %8d %8d %10.0f %10.0f %14.1f\n", n, l, r,
            l / (b - a), l / (c - b), r * 10000 / l }'
}

status=0
run "one month (1 window)" 2025-01-01 2025-01-31 1 || status=1
run "four months (4 windows)" 2025-03-01 2025-06-30 2 || status=1
echo "requests: every /rest/ call the simulator answered during the pull"
echo "(pages, the clients and posts listings, token refreshes, retries)"
exit $status
