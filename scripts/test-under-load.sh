#!/usr/bin/env bash
# `npm run test:load -- [RUNS] [BURNERS]`: runs `npm test` RUNS times in a row (default 5) with
# BURNERS processes (default 2) spinning on a CPU each beside it, as a busy gateway or CI
# runner would; prints one line a run (exit code, seconds, the tests line) and exits non-zero
# when a run failed. Issue 22: tests must not depend on the machine's speed. Logs go to
# $FWMESH_LOAD_LOGS (default a temporary folder), one file a run.
set -u
runs=${1:-5}
burners=${2:-2}
logs=${FWMESH_LOAD_LOGS:-$(mktemp -d -t fwmesh-load-XXXXXX)}
mkdir -p "$logs"
cd "$(dirname "$0")/.."

pids=()
for _ in $(seq 1 "$burners"); do
  (while :; do :; done) &
  pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null' EXIT

failed=0
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  npm test >"$logs/run-$i.log" 2>&1
  rc=$?
  tests=$(grep -E 'Tests ' "$logs/run-$i.log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g' | tr -s ' ')
  echo "run $i of $runs with $burners CPU burners: exit $rc, $(($(date +%s) - start)) s,$tests (log: $logs/run-$i.log)"
  [ "$rc" -eq 0 ] || failed=1
done
exit "$failed"
