#!/usr/bin/env bash
# The whole test suite: setup/build (incremental), then every CTest test. GPU tests skip cleanly
# on machines without CUDA.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
ctest --test-dir build --output-on-failure -j "${PQLAB_JOBS:-$(nproc)}" "$@"
