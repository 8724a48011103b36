#!/bin/sh
# Search-after-write benchmark (issue 6): what rg_search_refresh costs as
# the BM25 index's delta grows towards its merge, and what a lexical query
# costs beside that delta, on a copy of the retrieval benchmark's store
# (tests/bench/retrieval/refresh_bench.c says what it does). Not part of
# `meson test`. The store must exist: tests/bench/retrieval/run.sh
# --chunks N --prepare-only builds it (about 20 minutes at 100k).
#
# Usage: tests/bench/retrieval/refresh.sh [--chunks N] [refresh_bench options]
#   --chunks N   which prepared store (default 100000)
#   other options go to refresh_bench (--writes, --chunks-per-write,
#   --queries-per-write). Prints refresh_bench's JSON on stdout.
# Environment: RAGD_BENCH_BUILD (release build dir, default build-bench).
set -eu
root=$(cd "$(dirname "$0")/../../.." && pwd)
build="${RAGD_BENCH_BUILD:-$root/build-bench}"
chunks=100000
if [ "${1:-}" = "--chunks" ]; then chunks=$2; shift 2; fi
case "${1:-}" in -h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
store="$build/bench-retrieval/c$chunks-w100"
if ! [ -f "$store/ragd.done" ]; then
    echo "bench: no prepared store at $store (tests/bench/retrieval/run.sh --chunks $chunks --prepare-only)" >&2
    exit 1
fi
if ! [ -f "$build/build.ninja" ]; then
    meson setup "$build" "$root" --buildtype=release >/dev/null
fi
ninja -C "$build" tests/bench/retrieval/refresh_bench >/dev/null
copy="$build/bench-refresh/c$chunks"
rm -rf "$copy"
mkdir -p "$copy"
trap 'rm -rf "$copy"' EXIT
# the database only (and its WAL, if any): the bench writes chunks without
# vectors and opens no dense index
cp "$store/ragd-data"/ragd.db* "$copy/"
"$build/tests/bench/retrieval/refresh_bench" --data "$copy" --queries "$store/queries.txt" "$@"
