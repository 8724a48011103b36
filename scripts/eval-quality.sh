#!/usr/bin/env bash
# Long quality run (not part of scripts/test.sh): every dataset gate,
# including dense and hybrid retrieval on scifact and vaswani, which take
# minutes to embed on two cores. Needs ../shared/datasets.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
RAGD=build/api/ragd RAGD_SOURCE_ROOT=$PWD RAGD_EVAL_LONG=1 \
  .venv/bin/python tests/integration/test_datasets.py
