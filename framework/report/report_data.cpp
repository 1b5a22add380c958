#include "framework/report/report_data.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <ostream>

#include "framework/core/error.h"
#include "framework/core/paths.h"
#include "framework/experiment/result_paths.h"
#include "framework/io/hdf5_file.h"
#include "framework/sweep/sweep_files.h"

namespace pqlab::report {
namespace {

namespace rp = result_paths;

std::map<std::string, std::string> attr_map(const H5Reader& r, const std::string& object) {
  std::map<std::string, std::string> m;
  if (!r.exists(object)) return m;
  for (auto& [k, v] : r.attrs(object)) m[k] = v;
  return m;
}

std::string attr_or(const std::map<std::string, std::string>& m, const std::string& key) {
  const auto it = m.find(key);
  return it == m.end() ? "" : it->second;
}

// Attributes are rendered as text in shortest round-trip form, so parsing gives back the stored
// double exactly ("nan" and "inf" included).
double attr_number(const std::map<std::string, std::string>& m, const std::string& key) {
  double v = std::nan("");
  const auto it = m.find(key);
  if (it != m.end()) parse_number(it->second, v);
  return v;
}

std::vector<double> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// Mean of `per_layer` over the layers the variant quantized, as the run's summary defines it
// (0 when it quantized none).
double mean_over_quantized(const H5Reader& r, const std::string& per_layer, const at::Tensor& quantized) {
  const at::Tensor v = r.read(per_layer).to(at::kDouble);
  if (!quantized.defined()) return v.mean().item<double>();
  const at::Tensor q = quantized.to(at::kBool);
  return q.any().item<bool>() ? v.masked_select(q).mean().item<double>() : 0.0;
}

void read_paired(const H5Reader& r, const std::vector<H5Reader::Entry>& entries, VariantRecord& v) {
  const std::string g = rp::variant_paired(v.label);
  if (!r.exists(g)) return;
  v.level = attr_number(attr_map(r, g), "level");
  for (const auto& e : entries) {
    // Direct child groups of the paired group: one per number.
    if (!e.is_group || e.path.size() <= g.size() + 1 || e.path.compare(0, g.size() + 1, g + "/") != 0) continue;
    const std::string name = e.path.substr(g.size() + 1);
    if (name.find('/') != std::string::npos) continue;
    const auto a = attr_map(r, e.path);
    v.deltas[name] = {attr_number(a, "mean"), attr_number(a, "lo"), attr_number(a, "hi")};
  }
  const std::string vel = rp::variant_paired_number(v.label, "velocity");
  if (r.exists(vel + "/step_mean")) {
    v.step_mean = to_vector(r.read(vel + "/step_mean"));
    v.step_lo = to_vector(r.read(vel + "/step_lo"));
    v.step_hi = to_vector(r.read(vel + "/step_hi"));
  }
}

void read_sites(const H5Reader& r, VariantRecord& v) {
  const std::string g = rp::variant_permutations(v.label);
  if (!r.exists(g + "/kind") || !r.exists(g + "/accepted")) return;
  const std::vector<std::string> kinds = r.read_strings(g + "/kind");
  const at::Tensor accepted = r.read(g + "/accepted").to(at::kLong);
  for (size_t p = 0; p < kinds.size(); ++p) {
    SiteCount* c = nullptr;
    for (auto& s : v.sites)
      if (s.kind == kinds[p]) c = &s;
    if (!c) c = &v.sites.emplace_back(SiteCount{kinds[p], 0, 0});
    c->accepted += accepted[static_cast<int64_t>(p)].item<int64_t>() != 0;
    c->considered += 1;
  }
}

VariantRecord read_variant(const H5Reader& r, const std::vector<H5Reader::Entry>& entries, const std::string& label) {
  VariantRecord v;
  v.label = label;
  const auto a = attr_map(r, rp::variant(label));
  v.method = attr_or(a, "method");
  v.weight_format = attr_or(a, "weight_format");
  v.act_format = attr_or(a, "act_format");
  v.control = attr_or(a, "control");
  v.control_of = attr_or(a, "control_of");
  const at::Tensor quantized = r.exists(rp::variant_quantized(label)) ? r.read(rp::variant_quantized(label)) : at::Tensor();
  if (r.exists(rp::variant_weight_rel_mse(label)))
    v.values["weight"] = mean_over_quantized(r, rp::variant_weight_rel_mse(label), quantized);
  if (r.exists(rp::variant_isolated(label)))
    v.values["isolated"] = mean_over_quantized(r, rp::variant_isolated(label), quantized);
  if (r.exists(rp::variant_propagated(label)))
    v.values["propagated"] = mean_over_quantized(r, rp::variant_propagated(label), quantized);
  if (r.exists(rp::variant_tf_velocity_rel_mse(label))) {
    const at::Tensor vel = r.read(rp::variant_tf_velocity_rel_mse(label)).to(at::kDouble);  // [n, S]
    if (vel.numel() > 0) {
      v.values["velocity"] = vel.mean().item<double>();
      v.values["velocity_last"] = vel.select(1, vel.size(1) - 1).mean().item<double>();
      v.velocity_steps = to_vector(vel.mean(0));
    }
  }
  if (r.exists(rp::variant_fr_latent_rel_mse(label))) {
    const at::Tensor lat = r.read(rp::variant_fr_latent_rel_mse(label)).to(at::kDouble);  // [N, S]
    if (lat.numel() > 0) v.values["final_latent"] = lat.select(1, lat.size(1) - 1).mean().item<double>();
  }
  for (const auto& [k, text] : attr_map(r, rp::variant_output(label))) {
    const std::string suffix = "_mean";
    double x = 0;
    if (k.size() > suffix.size() && k.compare(k.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        parse_number(text, x))
      v.values[k.substr(0, k.size() - suffix.size())] = x;
  }
  for (const auto& [k, text] : attr_map(r, rp::variant_images(label))) {
    double x = 0;
    if (parse_number(text, x)) v.values[k] = x;
  }
  read_paired(r, entries, v);
  read_sites(r, v);
  return v;
}

void load_sweep(const std::string& dir, ReportData& data, std::ostream& notes) {
  const SweepManifest manifest = read_sweep_manifest(dir);
  std::vector<Axis> axes;
  for (const SweepManifest::Axis& a : manifest.axes) axes.push_back({a.key, a.name});
  // Axes of several sweeps merge by name; a result lacks the values of axes not in its sweep.
  for (const Axis& a : axes) {
    bool known = false;
    for (const Axis& b : data.axes) known = known || b.name == a.name;
    if (!known) data.axes.push_back(a);
  }
  for (const SweepManifest::Task& t : manifest.tasks) {
    const std::string rel = path_join(t.dir, t.result);
    const std::string file = path_join(dir, rel);
    std::string why;
    if (!is_regular_file(file)) {
      why = "no result " + file;
    } else {
      try {
        ResultRecord rec = read_result(file, rel);
        rec.index = t.index;
        for (const Axis& a : axes) {
          const auto it = t.values.find(a.key);
          if (it != t.values.end()) rec.axis_values[a.name] = it->second;
        }
        data.results.push_back(std::move(rec));
        continue;
      } catch (const Error& e) {
        why = e.what();
      }
    }
    std::string line = "task " + std::to_string(t.index) + " (";
    for (size_t i = 0; i < axes.size(); ++i) {
      const auto it = t.values.find(axes[i].key);
      line += (i ? ", " : "") + axes[i].name + "=" + (it == t.values.end() ? "?" : it->second);
    }
    line += "): " + why;
    notes << "pqlab report: note: missing " << line << '\n';
    data.missing.push_back(line);
  }
}

}  // namespace

const VariantRecord* ResultRecord::find(const std::string& label) const {
  for (const VariantRecord& v : variants)
    if (v.label == label) return &v;
  return nullptr;
}

bool parse_number(const std::string& value, double& out) {
  if (value.empty() || std::isspace(static_cast<unsigned char>(value[0]))) return false;
  char* end = nullptr;
  const double v = std::strtod(value.c_str(), &end);
  if (end != value.c_str() + value.size()) return false;
  out = v;
  return true;
}

ResultRecord read_result(const std::string& path, const std::string& shown_path) {
  if (!is_regular_file(path))
    throw UsageError(path + ": neither a result file (.h5) nor a sweep folder (with manifest.json)");
  std::unique_ptr<H5Reader> r;
  try {
    r = std::make_unique<H5Reader>(path);
  } catch (const Error& e) {
    throw UsageError(std::string(e.what()) + " (expected a pqlab result file or a sweep folder)");
  }
  if (!r->exists(rp::kVariantLabels)) throw UsageError(path + ": not a pqlab result file (no " + rp::kVariantLabels + ")");
  ResultRecord rec;
  rec.path = shown_path;
  rec.experiment = attr_or(attr_map(*r, rp::kRoot), "experiment");
  const std::vector<H5Reader::Entry> entries = r->list();
  for (const std::string& label : r->read_strings(rp::kVariantLabels)) rec.variants.push_back(read_variant(*r, entries, label));
  return rec;
}

ReportData load_report_data(const std::vector<std::string>& paths, std::ostream& notes) {
  ReportData data;
  for (const std::string& p : paths) {
    if (path_exists(path_join(p, "manifest.json"))) {
      load_sweep(p, data, notes);
    } else if (path_exists(p) && !is_regular_file(p)) {
      throw UsageError(p + ": a folder without manifest.json is not a sweep folder");
    } else {
      ResultRecord rec = read_result(p, p);
      rec.index = static_cast<int64_t>(data.results.size());
      data.results.push_back(std::move(rec));
    }
  }
  if (data.results.empty()) throw RuntimeError("no result file found in " + (paths.size() == 1 ? paths[0] : "the given paths"));
  return data;
}

}  // namespace pqlab::report
