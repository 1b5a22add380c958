#!/usr/bin/env bash
# On the GPU machine (../shared/gpu/README.md), from the repo root with .device/ carried and the
# dataset-fashion-mnist deb staged in .device/debs: CUDA build, then the training programs of the
# built-in models with the committed configs. Outputs and logs go to $OUT (or ./gpu-out).
#   bash scripts/train_fmnist_gpu.sh [classifier] [flux] [--set key=value ...]
set -euo pipefail
out=${OUT:-gpu-out}
mkdir -p "$out"
source .device/device-env.sh
data=/tmp/pqlab-device-prefix/usr/share/datasets/fashion-mnist
start=$(date +%s)
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release $PQLAB_DEVICE_CMAKE_ARGS > "$out/configure.log" 2>&1 \
  || { tail -30 "$out/configure.log"; exit 1; }
cmake --build build-gpu -j "$(nproc)" --target pqlab > "$out/build.log" 2>&1 || { grep -E "error|FAILED" "$out/build.log" | head -30; exit 1; }
echo "cuda build: $(( $(date +%s) - start )) s"
what=()
sets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --set) sets+=(--set "$2"); shift 2 ;;
    *) what+=("$1"); shift ;;
  esac
done
for w in "${what[@]}"; do
  case "$w" in
    classifier) build-gpu/pqlab train-classifier configs/train/fmnist_classifier.yaml --set data_dir=$data "${sets[@]}" \
                  --out "$out/classifier.safetensors" | tee "$out/train_classifier.log" ;;
    flux) build-gpu/pqlab train-flux configs/train/fmnist_flux.yaml --set data_dir=$data "${sets[@]}" \
            --out "$out/flux_fmnist.safetensors" | tee "$out/train_flux.log" ;;
  esac
done
