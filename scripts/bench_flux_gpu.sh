#!/usr/bin/env bash
# Full-size FLUX.1-dev step on the GPU machine (see ../shared/gpu/README.md and bench/README.md):
# builds only bench/flux_step_bench (Release, CUDA libtorch), writes a random-weight BFL-format
# checkpoint (~24 GB, bf16) to local disk unless it is there already, then times a 1024x1024 bf16
# step and prints the table. From the repo root with .device/ carried:
#   bash scripts/bench_flux_gpu.sh [extra flux_step_bench options, e.g. --reps 20 --no-diagnose]
# Env: OUT (logs; default ./gpu-out), CKPT (default /tmp/flux1-dev-random.safetensors),
# BUILD_DIR (default build-gpu), KEEP_CKPT=1 to leave the checkpoint on disk afterwards.
set -uo pipefail
out=${OUT:-gpu-out}
mkdir -p "$out"
source .device/device-env.sh
build=${BUILD_DIR:-build-gpu}
ckpt=${CKPT:-/tmp/flux1-dev-random.safetensors}
start=$(date +%s)

nvidia-smi --query-gpu=name,memory.total,memory.used,clocks.sm,clocks.max.sm,power.draw,power.limit,temperature.gpu \
  --format=csv 2>&1 | tee "$out/gpu.txt"
df -h "$(dirname "$ckpt")" | tail -1

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPQLAB_BUILD_TESTS=OFF $PQLAB_DEVICE_CMAKE_ARGS \
  > "$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
if ! cmake --build "$build" -j "$(nproc)" --target flux_step_bench > "$out/build.log" 2>&1; then
  grep -E "error|FAILED" "$out/build.log" | head -20
  # Only the allocator-statistics block depends on a recent c10 API; retry without it.
  echo "build failed; retrying with -DPQLAB_BENCH_ALLOC_STATS=OFF"
  cmake "$build" -DPQLAB_BENCH_ALLOC_STATS=OFF >> "$out/configure.log" 2>&1
  cmake --build "$build" -j "$(nproc)" --target flux_step_bench >> "$out/build.log" 2>&1 \
    || { grep -E "error|FAILED" "$out/build.log" | tail -30; exit 1; }
fi
echo "build: $(( $(date +%s) - start )) s on $(nproc) cores"
bench=$build/bench/flux_step_bench

if [ ! -f "$ckpt" ]; then
  "$bench" --write-random "$ckpt" --seed 0 2>&1 | tee "$out/write.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
fi
ls -l "$ckpt"
"$bench" --checkpoint "$ckpt" --dtype bf16 --device cuda --warmup 3 --reps 10 \
  --height 1024 --width 1024 --txt-len 512 "$@" 2>&1 | tee "$out/bench.txt"
rc=${PIPESTATUS[0]}
nvidia-smi --query-gpu=clocks.sm,power.draw,temperature.gpu --format=csv,noheader 2>&1 | tee -a "$out/gpu.txt"
[ "${KEEP_CKPT:-0}" = 1 ] || rm -f "$ckpt"
echo "total: $(( $(date +%s) - start )) s, bench exit $rc"
exit "$rc"
