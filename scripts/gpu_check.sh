#!/usr/bin/env bash
# On the GPU machine (see ../shared/gpu/README.md), from the repo root with .device/ carried:
# CUDA libtorch build, the whole test suite (CUDA tests run instead of skipping), the main job on
# CUDA, an h5py read of its result, the PyTorch cross-check of NVFP4/FP8 codes, and the format
# benchmark. Logs go to $OUT (or ./gpu-out).
set -uo pipefail
out=${OUT:-gpu-out}
mkdir -p "$out"
source .device/device-env.sh
start=$(date +%s)
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release $PQLAB_DEVICE_CMAKE_ARGS > "$out/configure.log" 2>&1 \
  || { tail -30 "$out/configure.log"; exit 1; }
cmake --build build-gpu -j "$(nproc)" > "$out/build.log" 2>&1 || { grep -E "error|FAILED" "$out/build.log" | head -30; exit 1; }
echo "cuda build: $(( $(date +%s) - start )) s on $(nproc) cores"
ctest --test-dir build-gpu -j 8 > "$out/ctest.log" 2>&1
grep -E "tests passed|Skipped|Failed" "$out/ctest.log" | head -20
pq=build-gpu/pqlab
$pq --version
/usr/bin/time -v $pq run experiments/toy_w4a4.yaml --set model.device=cuda --out "$out" 2> "$out/run.time" | tee "$out/run.txt"
grep -E "Elapsed|Maximum resident" "$out/run.time"
python3 - "$out/toy_w4a4.h5" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1])
print("h5py:", {k: f.attrs[k] for k in ("pqlab_version", "git_commit", "torch_version", "device")})
for label in (l.decode() for l in f["variant_labels"][:]):
    v = f["variants"][label]
    print(f"  {label:16s} {v.attrs['weight_format']:18s} sqnr {v['output/sqnr'][:].mean():7.3f} dB")
PY
python3 scripts/check_formats_against_torch.py --pqlab $pq --device cuda --save "$out/torch_vectors.safetensors"
build-gpu/bench/formats_bench 8192 8192 5 | tee "$out/bench.txt"
