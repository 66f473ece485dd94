#!/usr/bin/env bash
# Command 2 of the README: set everything up, make sure PostgreSQL and Redis run, run every test.
#
# The suite runs as several pytest processes that share ONE sandbox (started here, reused by every
# process through MLOPSTUI_TEST_SANDBOX_DIR, stopped here at the end): each test directory in its own
# process, and each UI test file in its own. In one process, state that tests left in the interpreter
# made later tests fail that pass alone: leaked clients' threads and forwards (AppContext.close() now
# closes them) and a process-wide verb deadline started outside a verb (now only inside cli.main).
# Both causes are fixed; the process boundaries stay, so that SDK globals and whatever a future test
# leaves behind cannot reach another directory's tests. With arguments, one pytest run of
# exactly those (e.g. `bash scripts/test.sh tests/unit -k quantity`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/services.sh
export PYTHONDONTWRITEBYTECODE=1
PYTEST=(.venv/bin/python -m pytest -q -p no:cacheprovider)

if [ $# -gt 0 ]; then
  set +e; "${PYTEST[@]}" --durations=15 "$@"; rc=$?; set -e
  if [ "$rc" = 5 ]; then echo "no tests were collected" >&2; exit 1; fi
  exit "$rc"
fi

SBX=$(mktemp -d /tmp/mlopstui-test-sandbox.XXXXXX)
export MLOPSTUI_TEST_SANDBOX_DIR=$SBX
stop_sandbox() {
  .venv/bin/mlopstui sandbox down --dir "$SBX" >/dev/null 2>&1 || true
  rm -rf "$SBX"
}
trap stop_sandbox EXIT
echo "== starting the shared test sandbox in $SBX"
.venv/bin/mlopstui sandbox up --dir "$SBX" --timeout 300

groups=(tests/unit tests/faults tests/packaging tests/sandbox tests/integration)
for f in tests/ui/test_*.py; do groups+=("$f"); done

passed=0; failed=0; errors=0; skipped=0; rc=0; start=$(date +%s)
for g in "${groups[@]}"; do
  echo "== $g"
  log=$(mktemp)
  set +e
  "${PYTEST[@]}" --durations=5 "$g" 2>&1 | tee "$log"
  r=${PIPESTATUS[0]}
  set -e
  line=$(grep -E '^=* ?[0-9]+ (passed|failed|error)' "$log" | tail -n1 || true)
  for kind in passed failed skipped; do
    n=$(echo "$line" | grep -oE "[0-9]+ $kind" | grep -oE '^[0-9]+' || true)
    eval "$kind=\$(( $kind + ${n:-0} ))"
  done
  n=$(echo "$line" | grep -oE "[0-9]+ errors?" | grep -oE '^[0-9]+' || true); errors=$((errors + ${n:-0}))
  rm -f "$log"
  if [ "$r" != 0 ] && [ "$r" != 5 ]; then rc=1; echo "== $g: pytest exit $r"; fi
done
echo "== whole suite: $(( $(date +%s) - start )) s"
failed=$((failed + errors))
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$passed" = 0 ]; then echo "no tests were run" >&2; exit 1; fi
exit "$rc"
