#!/usr/bin/env bash
# Run libFuzzer harnesses for a while each; used by fuzz/fuzz.mk.
#
#   fuzz/run.sh BINARY SECONDS [libFuzzer args...]
#   fuzz/run.sh --all SECONDS [libFuzzer args...] -- BINARY...
#
# For harness build/fuzz/NAME: the committed seeds fuzz/corpus/NAME/ are
# read, never written; what the fuzzer adds goes to build/fuzz/corpus/NAME/
# (kept between runs, so a later run starts from everything found so far);
# fuzz/NAME.dict is used when it exists; crash/leak/timeout reproducers go
# to build/fuzz/findings/NAME/.  Prints executions and findings per
# harness; exits non-zero when any harness found something (its first
# report lines are printed; the reproducer is in the findings directory,
# run it with `build/fuzz/NAME FILE`).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

usage() {
    echo "usage: fuzz/run.sh BINARY SECONDS [args] |" \
         "--all SECONDS [args] -- BINARY..." >&2
    exit 2
}

bins=()
args=()
if [ "${1:-}" = "--all" ]; then
    [ $# -ge 2 ] || usage
    seconds=$2
    shift 2
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
        args+=("$1")
        shift
    done
    [ "${1:-}" = "--" ] || usage
    shift
    bins=("$@")
else
    [ $# -ge 2 ] || usage
    bins=("$1")
    seconds=$2
    shift 2
    args=("$@")
fi
case $seconds in
    ''|*[!0-9]*) usage ;;
esac

failed=()
summary=()
for bin in "${bins[@]}"; do
    name=${bin##*/}
    seeds=fuzz/corpus/$name
    work=${bin%/*}/corpus/$name
    findings=${bin%/*}/findings/$name
    log=${bin%/*}/$name.log
    mkdir -p "$work" "$findings"
    dict=()
    [ -f "fuzz/$name.dict" ] && dict=(-dict="fuzz/$name.dict")
    [ -d "$seeds" ] || { echo "fuzz: no seed corpus $seeds" >&2; exit 1; }

    echo "==> fuzz $name for ${seconds}s (seeds $seeds, corpus $work)"
    before=$(find "$findings" -type f | wc -l)
    "$bin" "$work" "$seeds" -max_total_time="$seconds" -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$findings/" \
        ${dict[@]+"${dict[@]}"} ${args[@]+"${args[@]}"} >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    found=$(( $(find "$findings" -type f | wc -l) - before ))
    files=$(find "$work" -type f | wc -l)
    line="$name: ${execs:-?} executions in ${seconds}s, corpus $files files"
    if [ $rc -ne 0 ] || [ "$found" -gt 0 ]; then
        line="$line, FOUND (exit $rc, $found new reproducer(s) in $findings)"
        failed+=("$name")
        grep -m 1 -A 20 -E "^==[0-9]+==ERROR|runtime error|deadly signal" \
            "$log" || tail -n 20 "$log"
    else
        line="$line, nothing found"
    fi
    echo "$line"
    summary+=("$line")
done

echo
echo "==> fuzz summary"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: findings in ${failed[*]}" >&2
    exit 1
fi
