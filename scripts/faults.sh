#!/usr/bin/env bash
# The full fault-injection run (issue 8): tests/faults/test_alloc_faults with
# every N (the default test run strides over them), in the optimised build
# and then under AddressSanitizer + UndefinedBehaviorSanitizer, where a leak
# on any error path fails it; then the write-failure test
# (tests/integration/test_write_faults.py). Each prints how many faults it
# injected. Takes tens of minutes on two cores.
#
#   scripts/faults.sh            both builds
#   scripts/faults.sh plain      the optimised build only
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh || exit 1
builds=(build build-asan)
[ "${1:-}" = plain ] && builds=(build)
if [ ! -f build-asan/build.ninja ] && [ "${builds[*]}" != build ]; then
  meson setup build-asan --buildtype=debugoptimized -Db_sanitize=address,undefined \
    -Db_lundef=false || exit 1
fi
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1
status=0
for b in "${builds[@]}"; do
  ninja -C "$b" || exit 1
  echo "faults: $b: every allocation of an ingest, a sync and a search with an answer" >&2
  start=$(date +%s)
  RG_FAULT_STEP=1 RG_SOURCE_ROOT="$PWD" "$b/tests/faults/test_alloc_faults" || status=1
  echo "faults: $b: $(( $(date +%s) - start )) s" >&2
done
RAGD="$PWD/build/api/ragd" RAGD_SOURCE_ROOT="$PWD" .venv/bin/python3 \
  tests/integration/test_write_faults.py || status=1
exit $status
