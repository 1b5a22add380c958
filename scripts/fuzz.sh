#!/usr/bin/env bash
# libFuzzer targets of tests/fuzz/, built with clang into build-fuzz/ (-O1, ASan + UBSan).
#
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer flags...]   fuzz TARGET; the grown corpus is kept in
#                                                         build-fuzz/corpus/TARGET, crashes go to
#                                                         build-fuzz/artifacts/TARGET/
#   scripts/fuzz.sh --build                               configure and build every target
#   scripts/fuzz.sh --smoke TARGET SECONDS                CTest's smoke: replay regressions/, then
#                                                         fuzz from the seeds into a fresh corpus
#   scripts/fuzz.sh --list                                the target names
#
# TARGET: config_loader_fuzz, safetensors_header_fuzz, flux_checkpoint_fuzz, hdf5_result_fuzz.
# Exit 77 (CTest: skipped) when clang or its libFuzzer runtime is missing. Environment:
# PQLAB_FUZZ_BUILD (build folder, default build-fuzz), PQLAB_JOBS, PQLAB_FUZZ_STRICT=1 (exceptions
# other than pqlab errors are crashes), PQLAB_FUZZ_VERBOSE=1 (print each input's error),
# PQLAB_FUZZ_HDF5_RAW=1 (hdf5_result_fuzz takes raw .h5 bytes; libhdf5 crashes on those).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${PQLAB_FUZZ_BUILD:-$root/build-fuzz}
targets=(config_loader_fuzz safetensors_header_fuzz flux_checkpoint_fuzz hdf5_result_fuzz)
cxx=${PQLAB_FUZZ_CXX:-clang++}
cc=${PQLAB_FUZZ_CC:-clang}

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# Configures (once) and builds every target; one build at a time (CTest runs smokes in parallel).
build_all() {
  if ! command -v "$cxx" >/dev/null 2>&1; then
    echo "fuzz: $cxx not found (Debian: apt-get install clang libclang-rt-14-dev); skipping" >&2
    exit 77
  fi
  mkdir -p "$build"
  exec 9>"$build/.lock"
  flock 9
  if [ ! -f "$build/build.ninja" ]; then
    local probe
    probe=$(mktemp -d)
    echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' >"$probe/p.cpp"
    if ! "$cxx" -fsanitize=fuzzer,address,undefined "$probe/p.cpp" -o "$probe/p" 2>"$probe/err"; then
      cat "$probe/err" >&2
      rm -rf "$probe"
      echo "fuzz: $cxx cannot link -fsanitize=fuzzer (Debian: apt-get install libclang-rt-14-dev); skipping" >&2
      exit 77
    fi
    rm -rf "$probe"
    cmake -S "$root" -B "$build" -G Ninja -DPQLAB_FUZZ=ON -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" >/dev/null
  fi
  export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
  cmake --build "$build" -j "${PQLAB_JOBS:-$(nproc)}"
  flock -u 9
}

check_target() {
  local t
  for t in "${targets[@]}"; do [ "$t" = "$1" ] && return 0; done
  echo "fuzz: unknown target '$1'; targets: ${targets[*]}" >&2
  exit 2
}

# Flags every run uses: hangs (>20 s for one input) and memory blow-ups (>2 GiB) are failures.
# Also sets `seeds`: the committed seed and regression folders of target $1 that exist.
fuzz_flags() {
  local t=$1 d
  flags=(-timeout=20 -rss_limit_mb=2048 -print_final_stats=1)
  [ -f "$root/tests/fuzz/$t.dict" ] && flags+=("-dict=$root/tests/fuzz/$t.dict")
  if [ "$t" = hdf5_result_fuzz ]; then
    export ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0"
    export LSAN_OPTIONS="suppressions=$root/tests/fuzz/lsan.supp:print_suppressions=0"
  fi
  seeds=()
  for d in "$root/tests/fuzz/corpus/$t" "$root/tests/fuzz/regressions/$t"; do
    [ -d "$d" ] && seeds+=("$d")
  done
  return 0
}

# Sanitizer settings. Leak checking stays on: libFuzzer runs it when an input's mallocs and frees
# do not balance.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

[ $# -ge 1 ] || usage
case "$1" in
  --list) printf '%s\n' "${targets[@]}" ;;
  --build) build_all ;;
  --smoke)
    [ $# -eq 3 ] || usage
    t=$2 seconds=$3
    check_target "$t"
    mkdir -p "$build"
    rc=0
    (build_all) >"$build/smoke-build-$t.log" 2>&1 || rc=$?
    [ $rc -eq 0 ] || { cat "$build/smoke-build-$t.log" >&2; exit $rc; }
    bin=$build/tests/fuzz/$t
    fuzz_flags "$t"
    regressions=$root/tests/fuzz/regressions/$t
    if compgen -G "$regressions/*" >/dev/null; then
      echo "fuzz: replaying $(ls "$regressions" | wc -l) regression input(s)"
      "$bin" "${flags[@]}" "$regressions"/*
    fi
    # One folder per run (two test runs may share build-fuzz/); kept only when the run fails.
    mkdir -p "$build/smoke"
    work=$(mktemp -d "$build/smoke/$t.XXXXXX")
    mkdir -p "$work/corpus" "$work/artifacts"
    rc=0
    "$bin" "${flags[@]}" -max_total_time="$seconds" -artifact_prefix="$work/artifacts/" \
      "$work/corpus" "${seeds[@]}" >"$work/log" 2>&1 || rc=$?
    grep -vE '^#[0-9]+ +(NEW|REDUCE|pulse) ' "$work/log" | tail -n 60
    [ $rc -ne 77 ] || rc=1  # 77 means "skipped" to CTest; a failing fuzzer must not read as one
    if [ $rc -eq 0 ]; then
      rm -rf "$work"
    else
      echo "fuzz: $t failed (exit $rc); crashing input in $work/artifacts/, full log $work/log" >&2
    fi
    exit $rc
    ;;
  -*) usage ;;
  *)
    [ $# -ge 2 ] || usage
    t=$1 seconds=$2
    shift 2
    check_target "$t"
    build_all
    fuzz_flags "$t"
    mkdir -p "$build/corpus/$t" "$build/artifacts/$t"
    exec "$build/tests/fuzz/$t" "${flags[@]}" -max_total_time="$seconds" \
      -artifact_prefix="$build/artifacts/$t/" "$@" "$build/corpus/$t" "${seeds[@]}"
    ;;
esac
