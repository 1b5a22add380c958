#!/bin/bash
# The GPU acceptance run of experiments/flux_w4a4.yaml on the device machine (bench/RESULTS.md):
# builds pqlab, writes the full-size random-weight FLUX.1-dev checkpoint and random prompt
# embeddings, runs the experiment (extra arguments go to `pqlab run`, e.g. --set overrides for a
# shortened run) while sampling GPU memory every 250 ms, and prints the peak and the run's table.
# Logs go to $OUT (the device tool's output folder) or ./bench-out. The checkpoint and prompts are
# written once into build-gpu/ (kept between device calls); PQLAB_BENCH_PREPARE_ONLY=1 stops after
# building and writing them (a first call, so that the timed run fits one 10-minute command).
#   run: bash bench/run_flux_w4a4.sh --set calibration.samples=8 ...   (carry: [".device"])
# Per-method calibration cost (bench/RESULTS.md): every method on one shared calibration,
# one free-running held-out sample each:
#   bash bench/run_flux_w4a4.sh --set calibration.samples=5 --set data.eval_samples=1 \
#     --set data.layer_samples=0 --set 'run_variants=[pq_int_g64,smoothquant_int_g64,...]'
set -u
out=${OUT:-bench-out}
mkdir -p "$out"
source .device/device-env.sh
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DPQLAB_BUILD_TESTS=OFF $PQLAB_DEVICE_CMAKE_ARGS \
  > "$out/cmake.log" 2>&1 || { tail -20 "$out/cmake.log"; exit 1; }
cmake --build build-gpu --target pqlab flux_step_bench > "$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
ckpt=build-gpu/flux.safetensors
cond=build-gpu/cond.safetensors
if [ ! -s "$cond" ]; then
  build-gpu/bench/flux_step_bench --write-random "$ckpt" > "$out/data.log" 2>&1 || exit 1
  build-gpu/bench/flux_step_bench --write-conditioning "$cond" 20 >> "$out/data.log" 2>&1 || exit 1
fi
if [ "${PQLAB_BENCH_PREPARE_ONLY:-0}" = 1 ]; then echo "prepared: $(ls -la build-gpu/*.safetensors)"; exit 0; fi
nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 250 > "$out/mem.log" &
smi=$!
/usr/bin/time -v build-gpu/pqlab run experiments/flux_w4a4.yaml --set model.checkpoint="$ckpt" \
  --set model.conditioning="$cond" --out /tmp/flux-results "$@" > "$out/run.log" 2>&1
rc=$?
kill $smi
echo "pqlab run exit code $rc; peak GPU memory $(sort -n "$out/mem.log" | tail -1) MiB"
grep -v "^pqlab:" "$out/run.log" | tail -45
