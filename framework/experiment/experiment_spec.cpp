#include "framework/experiment/experiment_spec.h"

#include <ATen/Parallel.h>

#include <set>

#include "framework/config/typed_config.h"
#include "framework/core/error.h"
#include "framework/core/excerpt.h"
#include "framework/core/paths.h"

namespace pqlab {

ExperimentSpec load_experiment(const std::string& path, const std::vector<std::string>& sets,
                               const Registries& registries) {
  const config::Node root = config::load_config_tree(path, sets);
  config::ErrorList errors;
  ExperimentSpec spec;
  config::read_typed_config(root, "experiment", &registries, errors, spec);
  // Variant labels name HDF5 groups, so they must be unique.
  std::set<std::string> seen;
  const config::Node* vs = root.find("variants");
  for (size_t i = 0; i < spec.variants.size(); ++i) {
    if (spec.variants[i].label.empty() || seen.insert(spec.variants[i].label).second) continue;
    const config::Node* at = vs && i < vs->seq.size() ? vs->seq[i].find("label") : nullptr;
    errors.add(at ? at->origin : root.origin, "duplicate variant label '" + spec.variants[i].label + "'");
  }
  if (spec.variants.empty() && vs && vs->kind == config::Node::Kind::seq)
    errors.add(vs->origin, "'variants' must list at least one variant");
  if (spec.name.empty()) {
    // The default must pass the same rule as an explicit name; a file called "my run.yaml" is
    // not renamed silently, so its results can always be found by the file's own stem.
    spec.name = path_stem(path);
    if (!is_plain_file_stem(spec.name)) {
      Diagnostic d;
      d.loc.file = path;
      d.message = "the experiment name defaults to the file stem '" + excerpt(spec.name) +
                  "', which is not a plain file stem (" + kPlainFileStemRule + ")";
      d.notes.push_back("set 'name' in the file (or --set name=...), or rename the file");
      errors.add(d);
    }
  }
  errors.throw_if_any();

  spec.source_path = path;
  spec.resolved_yaml = dump_experiment(spec);
  return spec;
}

void ExperimentSpec::apply_run_options() const {
  if (threads > 0) at::set_num_threads(static_cast<int>(threads));
}

std::string dump_experiment(ExperimentSpec& spec) { return config::dump_typed_config(spec); }

}  // namespace pqlab
