// Fuzzes the experiment loader: YAML parsing, include: resolution, --set overrides and every
// built-in plugin's schema (load_experiment with the full registry, as `pqlab run` calls it).
// Input: main YAML [#--- fragment YAML [#--- one --set assignment per line]]. The main file is
// <scratch>/exp/main.yaml, the fragment <scratch>/exp/frag.yaml (reachable as `include: frag.yaml`);
// configs/ fragments of the source tree are reachable as usual (`include: formats/nvfp4.yaml`).
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "framework/config/config_value.h"
#include "framework/core/error.h"
#include "framework/experiment/experiment_spec.h"
#include "framework/registry/registries.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

const pqlab::Registries& registries() {
  static const pqlab::Registries* r = [] {
    auto* x = new pqlab::Registries();  // leaked on purpose: lives as long as the process
    pqlab::register_builtin_plugins(*x);
    return x;
  }();
  return *r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pqlab;
  const std::vector<std::string> parts = fuzz::split_parts(data, size);
  static const std::string dir = [] {
    const std::string d = fuzz::scratch_dir() + "/exp";
    create_directories(d);
    return d;
  }();
  const std::string main_path = dir + "/main.yaml";
  fuzz::write_file(main_path, parts[0]);
  fuzz::write_file(dir + "/frag.yaml", parts.size() > 1 ? parts[1] : std::string());
  std::vector<std::string> sets;
  if (parts.size() > 2) {
    std::istringstream in(parts[2]);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) sets.push_back(line);
  }
  try {
    ExperimentSpec spec = load_experiment(main_path, sets, registries());
    (void)dump_experiment(spec);
  } catch (const Error& e) {
    fuzz::expected_error(e);
    // A ConfigError must render (file:line:col, caret) without touching anything out of range.
    if (const auto* c = dynamic_cast<const ConfigError*>(&e))
      for (const auto& d : c->diagnostics()) (void)format_diagnostic(d);
  } catch (const std::exception& e) {
    fuzz::foreign_exception(e);
  }
  // The lower-level API on its own: one document, each --set applied to it, and back to YAML.
  try {
    config::ErrorList errors;
    config::Node root = config::parse_yaml(parts[0], std::make_shared<config::SourceFile>(config::SourceFile{"fuzz.yaml", {}, {}}), errors);
    for (const auto& s : sets) config::apply_set(root, s, errors);
    (void)config::to_yaml(root);
  } catch (const Error& e) {
    fuzz::expected_error(e);
  } catch (const std::exception& e) {
    fuzz::foreign_exception(e);
  }
  return 0;
}
