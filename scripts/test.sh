#!/usr/bin/env bash
# Sets up, builds and runs every test: the unit and integration suites, then
# the same again under AddressSanitizer + UndefinedBehaviorSanitizer, then a
# short run of every fuzz target (scripts/fuzz.sh smoke).
# Ends with one line "N passed, M failed[, K skipped]".
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh || exit 1
# The small real LLM of tests/integration/test_llm_real.py: when it cannot be
# installed (no network), that test skips and says why.
./scripts/setup-llm.sh || echo "test: scripts/setup-llm.sh failed; test_llm_real will skip" >&2

# Optimised (-O2 -g): the sanitizers check the same code, and the encoder
# runs about four times faster than at -O0, which keeps this pass short.
if [ ! -f build-asan/build.ninja ]; then
  meson setup build-asan --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false || exit 1
fi
ninja -C build-asan || exit 1

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1

status=0
meson test -C build --print-errorlogs --num-processes 2 || status=1
RAGD_SANITIZED=1 meson test -C build-asan --print-errorlogs --num-processes 2 --suite unit --suite integration \
  --timeout-multiplier 3 || status=1

# The libFuzzer targets (tests/fuzz), 5 s each (about 2.5 minutes; the long run is
# scripts/fuzz.sh long): one test in the count below.
# scripts/fuzz.sh exits 77 (skipped, and says why) without clang and libFuzzer.
./scripts/fuzz.sh smoke 5
case $? in
  0) fuzz=OK ;;
  77) fuzz=SKIP ;;
  *) fuzz=FAIL status=1 ;;
esac

# One closing line over both runs, from meson's machine-readable logs, and the fuzz run.
FUZZ_RESULT=$fuzz python3 - build/meson-logs/testlog.json build-asan/meson-logs/testlog.json <<'PY'
import json, os, sys
passed = failed = skipped = 0
r = os.environ["FUZZ_RESULT"]
if r == "OK": passed += 1
elif r == "SKIP": skipped += 1
else: failed += 1
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        failed += 1
        continue
    for line in lines:
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"): passed += 1
        elif r == "SKIP": skipped += 1
        else: failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
