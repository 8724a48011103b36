#!/bin/sh
# Regenerates tests/fixtures/xlmr-tiny/ (a tiny random XLM-R model folder and
# its parity fixtures) with the reference implementations: sentencepiece to
# train the Unigram vocabulary, Hugging Face tokenizers for token ids,
# transformers + torch for embeddings. Uses .venv-ref/ (git-ignored), as
# scripts/make_encoder_fixtures.sh does, adding what this script needs.
# Usage: scripts/make_xlmr_fixtures.sh [--setup-only]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv-ref"
"$root/scripts/make_encoder_fixtures.sh" --setup-only
if ! "$venv/bin/python" -c 'import sentencepiece, google.protobuf, transformers' 2>/dev/null; then
    "$venv/bin/pip" install --quiet sentencepiece protobuf transformers
fi
[ "${1:-}" = "--setup-only" ] && exit 0
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec "$venv/bin/python" "$root/scripts/make_xlmr_fixtures.py" --out "$root/tests/fixtures/xlmr-tiny" "$@"
