#!/usr/bin/env bash
# chain-bench: what the ledger's hash chain (migrations/018) costs the
# worker's ingest: bench/worker-bench.sh with the chain and without it
# (its triggers disabled), alternating, so both see the same machine.
#
#   bench/chain-bench.sh           20000 jobs per run, 2 rounds
#                                  (JOBS=N, ROUNDS=N to change)
#
# Prints figures only.
set -euo pipefail

cd "$(dirname "$0")/.."

export JOBS=${JOBS:-20000}
rounds=${ROUNDS:-2}

for ((i = 1; i <= rounds; i++)); do
    CHAIN=on bench/worker-bench.sh
    CHAIN=off bench/worker-bench.sh
done
