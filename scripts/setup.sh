#!/usr/bin/env bash
# Installs what pqlab needs on Debian 12 (as root) and builds it in build/. Idempotent: packages
# already present are not fetched again and the build is incremental (ccache across clean clones).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

packages=(
  build-essential cmake ninja-build ccache git pkg-config
  libtorch-dev            # ATen/libtorch 1.13 (CPU)
  libopenblas0-pthread    # without it Debian's libtorch uses the reference BLAS (~40x slower matmuls)
  libyaml-cpp-dev libhdf5-dev libboost-program-options-dev libeigen3-dev libgtest-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev zlib1g-dev
  libstb-dev dataset-fashion-mnist  # PNG image grids (stb_image_write); Fashion-MNIST idx files
  gnuplot-nox                       # `pqlab report` plots (pdfcairo, pngcairo terminals)
  munge slurmctld slurmd slurm-client  # a local Slurm cluster (scripts/local_slurm.sh, the slurm launcher's e2e test)
  clang libclang-rt-14-dev          # libFuzzer targets (scripts/fuzz.sh, the fuzz smoke tests)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then echo "setup: run as root to install packages" >&2; exit 2; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # munge's and Slurm's postinst start their services through invoke-rc.d, and slurmctld's fails
  # the install when that fails (no /etc/slurm/slurm.conf; without systemd, an init script).
  # scripts/local_slurm.sh runs its own daemons: deny service starts during the install unless
  # the image already does (Docker-style images ship a policy-rc.d).
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made_policy=1
  fi
  trap '[ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  trap - EXIT
fi

jobs=${PQLAB_JOBS:-$(nproc)}
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=${PQLAB_BUILD_TYPE:-RelWithDebInfo}
fi
cmake --build build -j "$jobs"
