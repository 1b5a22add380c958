#include "framework/experiment/experiment_spec.h"

#include <algorithm>

#include <ATen/Parallel.h>

#include <memory>
#include <set>

#include "framework/config/typed_config.h"
#include "framework/core/error.h"
#include "framework/core/spellcheck.h"
#include "framework/core/excerpt.h"
#include "framework/core/paths.h"

namespace pqlab {
namespace {

config::Node scalar(const std::string& v) {
  config::Node n;
  n.kind = config::Node::Kind::scalar;
  n.scalar = v;
  n.quoted = true;
  return n;
}

void set_key(config::Node& map, const std::string& key, config::Node value) {
  if (config::Node* n = map.find(key)) {
    *n = std::move(value);
    return;
  }
  map.map.emplace_back(key, std::move(value));
  map.key_origins.emplace_back();
}

// The control of `v`: its method written out with every key, the ordering replaced, read back
// through the registry (so a method joins by having an `ordering` key). Null when there is none.
std::unique_ptr<VariantSpec> control_of(VariantSpec& v, const Registries& registries, config::ErrorList& errors) {
  if (v.control == "none" || !v.method.impl) return nullptr;
  config::Node node;
  {
    config::ConfigWriter w(node);
    VariantSpec::map(w, v);
  }
  config::Node* method = node.find("method");
  config::Node* ordering = method ? method->find("ordering") : nullptr;
  if (!ordering) return nullptr;  // the method takes no ordering: nothing to control for
  const config::Node* name = ordering->kind == config::Node::Kind::map ? ordering->find("name") : ordering;
  if (name && name->scalar == v.control) return nullptr;  // it is its own control
  config::Node ord;
  ord.kind = config::Node::Kind::map;
  set_key(ord, "name", scalar(v.control));
  *ordering = ord;
  set_key(node, "label", scalar(v.label + ".control"));
  set_key(node, "control", scalar("none"));
  auto c = std::make_unique<VariantSpec>();
  config::read_typed_config(node, "control variant of '" + v.label + "'", &registries, errors, *c);
  c->where = v.where;
  c->control_of = v.label;
  v.control_label = c->label;
  return c;
}

}  // namespace

ExperimentSpec load_experiment(const std::string& path, const std::vector<std::string>& sets,
                               const Registries& registries) {
  config::Node root = config::load_config_tree(path, sets);
  const bool has_sweep = strip_sweep(root) != nullptr;
  ExperimentSpec spec = load_experiment_tree(root, path, registries);
  spec.has_sweep = has_sweep;
  return spec;
}

std::unique_ptr<config::Node> strip_sweep(config::Node& root) {
  for (size_t i = 0; i < root.map.size(); ++i)
    if (root.map[i].first == "sweep") {
      auto sweep = std::make_unique<config::Node>(std::move(root.map[i].second));
      root.map.erase(root.map.begin() + static_cast<std::ptrdiff_t>(i));
      root.key_origins.erase(root.key_origins.begin() + static_cast<std::ptrdiff_t>(i));
      return sweep;
    }
  return nullptr;
}

ExperimentSpec load_experiment_tree(const config::Node& root, const std::string& path, const Registries& registries) {
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
  // run_variants must name listed variants (a typo would silently run nothing of what was meant).
  std::vector<std::string> labels;
  for (const VariantSpec& v : spec.variants) labels.push_back(v.label);
  const config::Node* rv = root.find("run_variants");
  for (size_t i = 0; i < spec.run_variants.size(); ++i) {
    const std::string& l = spec.run_variants[i];
    if (std::find(labels.begin(), labels.end(), l) != labels.end()) continue;
    const config::Origin& at = rv && rv->kind == config::Node::Kind::seq && i < rv->seq.size() ? rv->seq[i].origin
                               : rv                                                           ? rv->origin
                                                                                              : root.origin;
    const std::string near = closest_match(l, labels);
    errors.add(at, "run_variants: no variant labelled '" + excerpt(l) + "'",
               {near.empty() ? "the variants are: " + join(labels) : "did you mean '" + near + "'?"});
  }
  errors.throw_if_any();

  spec.source_path = path;
  spec.resolved_yaml = dump_experiment(spec);

  std::vector<VariantSpec> expanded;
  for (VariantSpec& v : spec.variants) {
    std::unique_ptr<VariantSpec> c = control_of(v, registries, errors);
    expanded.push_back(v);
    if (!c) continue;
    if (!seen.insert(c->label).second) {
      Diagnostic d;
      d.loc = v.where;
      d.message = "variant '" + v.label + "': its control '" + c->label +
                  "' has the label of another variant; rename that one or set 'control: none'";
      errors.add(d);
    }
    expanded.push_back(std::move(*c));
  }
  errors.throw_if_any();
  if (!spec.run_variants.empty()) {
    const std::set<std::string> keep(spec.run_variants.begin(), spec.run_variants.end());
    std::vector<VariantSpec> selected;
    for (VariantSpec& v : expanded)
      if (keep.count(v.label) || keep.count(v.control_of)) selected.push_back(std::move(v));
    expanded = std::move(selected);
  }
  spec.variants = std::move(expanded);
  return spec;
}

void ExperimentSpec::apply_run_options() const {
  if (threads > 0) at::set_num_threads(static_cast<int>(threads));
}

std::string dump_experiment(ExperimentSpec& spec) { return config::dump_typed_config(spec); }

}  // namespace pqlab
