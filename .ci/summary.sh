# Sourced by .ci/run and .ci/node24: turns an ava run's output into "PASSED FAILED".
# ava's summary: "N tests passed", "N tests failed", "N known failures", "N uncaught exceptions";
# it leaves out "N tests passed" once a test failed, and then the passed tests are counted
# from their own lines ("✔ title"; "✔ [expected fail] title" is a known failure, not a pass).
# A non-zero exit with no failing test counted (typecheck, build, runner crash, an unlisted
# skip/only/failing/todo — scripts/check-test-modifiers.mjs — or a host or temp home a run
# left behind — scripts/check-leftovers.mjs) still counts as one failure.
# Usage: summarize LOG EXIT_CODE
summarize() {
  local log=$1 rc=$2 passed failed uncaught
  count() { grep -Eo "^ +[0-9]+ $1" "$log" | grep -Eo '[0-9]+' | tail -n 1; }
  passed=$(count 'tests? passed')
  [ -n "$passed" ] || passed=$(grep -E '^ +✔ ' "$log" | grep -vc '✔ \[expected fail\]')
  failed=$(count 'tests? failed'); failed=${failed:-0}
  uncaught=$(count 'uncaught exceptions?'); uncaught=${uncaught:-0}
  failed=$((failed + uncaught))
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  echo "$passed $failed"
}
