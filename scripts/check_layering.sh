#!/usr/bin/env bash
# Checks the include layering of the sources under ROOT (default: the repository):
#   framework/ includes nothing from methods/, models/ or metrics/;
#   each plugin folder (methods/, models/, metrics/) includes only the framework and itself.
# Prints every offending include as file:line: error: ... and exits 1 if there is any.
# Usage: scripts/check_layering.sh [ROOT]        (tests/CMakeLists.txt runs it, test `layering`)
#        scripts/check_layering.sh --self-test   (a tree with two violations and one allowed include)
set -euo pipefail
if [ "${1:-}" = --self-test ]; then
  d=$(mktemp -d)
  trap 'rm -rf "$d"' EXIT
  mkdir -p "$d/framework/x" "$d/metrics" "$d/models"
  printf '#include <vector>\n  # include "models/m.h"\n' > "$d/framework/x/a.cpp"
  printf '#include "framework/f.h"\n#include "metrics/own.h"\n' > "$d/metrics/b.h"
  printf '// #include "metrics/c.h" in a comment is fine\n#include "metrics/c.h"\n' > "$d/models/c.cpp"
  want="framework/x/a.cpp:2: error: framework/ must not include models/ (layering: see README, 'Layout')
models/c.cpp:2: error: models/ must not include metrics/ (layering: see README, 'Layout')"
  rc=0
  got=$("$0" "$d") || rc=$?
  if [ "$rc" = 1 ] && [ "$got" = "$want" ]; then echo "self-test ok"; exit 0; fi
  printf 'self-test failed (rc %s):\n%s\nexpected:\n%s\n' "$rc" "$got" "$want"
  exit 1
fi
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
status=0
check() {  # check <folder> <forbidden folder>...
  local dir=$1; shift
  [ -d "$root/$dir" ] || return 0
  for bad in "$@"; do
    while IFS= read -r hit; do
      echo "$hit: error: $dir/ must not include $bad/ (layering: see README, 'Layout')"
      status=1
    done < <(cd "$root" && grep -rnE --include='*.h' --include='*.cpp' --include='*.def' \
               "^[[:space:]]*#[[:space:]]*include[[:space:]]+\"$bad/" "$dir" | cut -d: -f1,2 || true)
  done
}
check framework methods models metrics
check methods models metrics
check models methods metrics
check metrics methods models
exit $status
