#!/usr/bin/env bash
# ThreadSanitizer over ragd's concurrent parts (issue 8): the hybrid
# searcher's second thread (tests/index/test_search), then the real binary
# built with -fsanitize=thread: ingestion with two loader threads and the
# HTTP server under parallel searches, answers, chat, uploads and deletes
# (tests/integration/test_concurrency.py). Fails on any report; prints how
# many there were. The corpus subset of the sanitizer pass keeps it to minutes
# (the encoder runs many times slower instrumented). tests/tsan.supp says
# what is suppressed and why.
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh || exit 1
if [ ! -f build-tsan/build.ninja ]; then
  meson setup build-tsan --buildtype=debugoptimized -Db_sanitize=thread -Db_lundef=false || exit 1
fi
ninja -C build-tsan || exit 1
export TSAN_OPTIONS="halt_on_error=0 exitcode=66 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp"
status=0
echo "tsan: tests/index/test_search" >&2
RG_SOURCE_ROOT="$PWD" build-tsan/tests/index/test_search || status=1
echo "tsan: tests/integration/test_concurrency.py" >&2
# On one core the encoder opens no OpenMP team (libgomp, not instrumented, makes
# every team hand-off a report to suppress, which costs minutes); ragd's own
# threads still interleave and are checked.
RAGD="$PWD/build-tsan/api/ragd" RAGD_SOURCE_ROOT="$PWD" RAGD_TSAN=1 RAGD_SANITIZED=1 \
  RAGD_CONCURRENCY_SECONDS="${RAGD_CONCURRENCY_SECONDS:-30}" \
  taskset -c 0 .venv/bin/python3 tests/integration/test_concurrency.py || status=1
exit $status
