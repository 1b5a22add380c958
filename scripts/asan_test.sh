#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer (gcc), built in
# build-asan/ with -DPQLAB_SANITIZE=ON. Not part of CI (about 3x slower); run it before a release
# or after touching parsers and buffers. Needs the packages of scripts/setup.sh. Extra arguments go
# to ctest (e.g. -R safetensors). The fuzz smoke is left out: it has its own sanitizer build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${PQLAB_ASAN_BUILD:-build-asan}
jobs=${PQLAB_JOBS:-$(nproc)}

# Set before the build too: gtest_discover_tests runs the instrumented test binaries.
# LeakSanitizer stays on: no third-party leak has shown up in the suite (libtorch, libgomp,
# libhdf5 included). Should one appear, suppress it by name in a file passed through
# LSAN_OPTIONS=suppressions=..., saying why (tests/fuzz/lsan.supp is the example).
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime

if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPQLAB_SANITIZE=ON
fi
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs" -LE fuzz "$@"
