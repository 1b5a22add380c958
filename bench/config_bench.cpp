// Config handling time against the number of keys (issue 8: it was quadratic, 40,000 keys took
// 6 s). Writes experiments with n free-form keys (x_*) or n unknown keys, loads each through
// load_experiment (parse, includes, typed read, unknown-key check, resolved dump) and prints the
// time per key: flat per-key times mean linear (or n log n) handling.
//
//   build/bench/config_bench [max_keys=64000]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "framework/core/error.h"
#include "framework/core/paths.h"
#include "framework/experiment/experiment_spec.h"
#include "framework/registry/registries.h"

namespace {

double load_seconds(const std::string& path, const pqlab::Registries& registries, bool& failed) {
  const auto t0 = std::chrono::steady_clock::now();
  try {
    pqlab::load_experiment(path, {}, registries);
    failed = false;
  } catch (const pqlab::ConfigError&) {
    failed = true;  // unknown keys: the error path is timed too
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const long max_keys = argc > 1 ? std::atol(argv[1]) : 64000;
  pqlab::Registries registries;
  pqlab::register_builtin_plugins(registries);
  const std::string dir = pqlab::make_temp_directory("pqlab-config-bench-");
  const std::string head =
      "model: {adapter: toy_mlp, hidden: 64, blocks: 1, tokens: 8}\n"
      "variants: [{label: a, method: {name: rtn, weight_format: int}}]\n";
  std::printf("%10s %12s %14s %16s %14s\n", "keys", "bytes", "x_ keys [s]", "per key [us]", "unknown [s]");
  for (long n = 1000; n <= max_keys; n *= 2) {
    std::string notes = head, unknown = head;
    for (long i = 0; i < n; ++i) {
      notes += "x_k" + std::to_string(i) + ": " + std::to_string(i) + "\n";
      unknown += "k" + std::to_string(i) + ": " + std::to_string(i) + "\n";
    }
    const std::string a = dir + "/notes.yaml", b = dir + "/unknown.yaml";
    std::ofstream(a) << notes;
    std::ofstream(b) << unknown;
    bool fa = false, fb = false;
    const double ta = load_seconds(a, registries, fa);
    const double tb = load_seconds(b, registries, fb);
    std::printf("%10ld %12zu %14.3f %16.2f %14.3f%s\n", n, notes.size(), ta, 1e6 * ta / n, tb,
                fa ? "  (over the file-size limit)" : "");
  }
  pqlab::remove_tree(dir);
  return 0;
}
