#include "framework/experiment/runner.h"

#include <ATen/ATen.h>
#include <torch/version.h>  // macros only; not the torch C++ frontend
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <iomanip>
#include <map>
#include <sstream>

#include "framework/config/config_value.h"
#include "framework/config/config_writer.h"
#include "framework/core/paths.h"
#include "framework/core/version.h"
#include "framework/io/hdf5_file.h"
#include "framework/quant/linear_site.h"

namespace pqlab {
namespace {

std::string now_iso8601() {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string hostname() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string torch_version() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

template <class I>
std::string plugin_yaml(Plugin<I>& p) {
  config::Node n;
  PluginSlotFor<I> slot(p, nullptr);
  config::ConfigWriter::write_plugin(n, slot);
  return config::to_yaml(n);
}

// Per-site record of the full-precision pass: the exact inputs and outputs of every linear layer.
struct SiteRecord {
  std::vector<at::Tensor> inputs, outputs;  // one per evaluation sample batch
};

}  // namespace

RunSummary run_experiment(ExperimentSpec& spec, const RunOptions& opts) {
  const std::string start = now_iso8601();
  ModelAdapter& model = *spec.model.impl;
  model.load();
  std::vector<LinearSite*> sites = model.linear_sites();

  // Keep full-precision weights so every variant starts from the same model.
  std::vector<at::Tensor> fp_weights;
  for (auto* s : sites) fp_weights.push_back(s->weight().clone());

  const at::Tensor inputs = model.sample_inputs(spec.data.eval_samples, spec.eval_seed());

  // Full-precision pass, one sample at a time so per-sample metrics need no extra bookkeeping.
  std::map<const LinearSite*, SiteRecord> fp_records;
  for (auto* s : sites)
    s->set_tap([&fp_records](const LinearSite& site, const at::Tensor& in, const at::Tensor& out) {
      fp_records[&site].inputs.push_back(in.detach().clone());
      fp_records[&site].outputs.push_back(out.detach().clone());
    });
  std::vector<at::Tensor> fp_out;
  const int64_t n_samples = inputs.size(0);
  for (int64_t i = 0; i < n_samples; ++i) fp_out.push_back(model.forward(inputs.narrow(0, i, 1), i).detach().clone());
  for (auto* s : sites) s->set_tap(nullptr);

  const std::string dir = opts.out_dir.empty() ? spec.output.dir : opts.out_dir;
  create_directories(dir);
  const std::string result_path = path_join(dir, spec.name + ".h5");
  H5Writer h5(result_path);

  // Layer table, shared by all variants.
  std::vector<std::string> keys, roles;
  std::vector<int64_t> in_f, out_f;
  for (auto* s : sites) {
    keys.push_back(s->key());
    roles.push_back(s->role());
    in_f.push_back(s->in_features());
    out_f.push_back(s->out_features());
  }
  h5.write_strings("/layers/key", keys);
  h5.write_strings("/layers/role", roles);
  h5.write("/layers/in_features", at::tensor(in_f, at::kLong));
  h5.write("/layers/out_features", at::tensor(out_f, at::kLong));

  RunSummary summary;
  summary.result_path = result_path;
  std::vector<std::string> labels;
  for (auto& v : spec.variants) {
    labels.push_back(v.label);
    for (size_t i = 0; i < sites.size(); ++i) {
      sites[i]->set_weight(fp_weights[i]);
      sites[i]->set_act_format(nullptr);
    }
    v.method->apply(model);

    const std::string g = "/variants/" + v.label;
    const size_t L = sites.size();
    std::vector<double> w_rel(L), quantized(L);
    std::map<std::string, std::vector<double>> iso, prop;  // metric -> [L], mean over samples
    for (auto& m : spec.metrics) {
      iso[m.name].assign(L, 0.0);
      prop[m.name].assign(L, 0.0);
    }
    for (size_t i = 0; i < L; ++i) {
      const at::Tensor w0 = fp_weights[i].to(at::kDouble);
      const at::Tensor dw = sites[i]->weight().to(at::kDouble) - w0;
      const double denom = w0.pow(2).sum().item<double>();
      w_rel[i] = denom > 0 ? dw.pow(2).sum().item<double>() / denom : std::nan("");
      quantized[i] = v.method->selects(sites[i]->key()) ? 1.0 : 0.0;
      // Isolated (teacher-forced) error: this layer alone, fed the full-precision inputs.
      const SiteRecord& rec = fp_records[sites[i]];
      for (size_t k = 0; k < rec.inputs.size(); ++k) {
        const at::Tensor& x = rec.inputs[k];
        const at::Tensor xq = sites[i]->act_format() ? sites[i]->act_format()->fake_quant(x) : x;
        const at::Tensor y = at::linear(xq, sites[i]->weight(), sites[i]->bias());
        for (auto& m : spec.metrics)
          iso[m.name][i] += m->compute(rec.outputs[k], y) / static_cast<double>(rec.inputs.size());
      }
    }
    // Propagated error: the whole quantized model, each layer compared with its FP counterpart.
    std::map<const LinearSite*, size_t> call_index;
    std::map<const LinearSite*, size_t> site_pos;
    for (size_t i = 0; i < L; ++i) site_pos[sites[i]] = i;
    for (auto* s : sites)
      s->set_tap([&](const LinearSite& site, const at::Tensor&, const at::Tensor& out) {
        const size_t i = site_pos[&site];
        const SiteRecord& rec = fp_records[&site];
        const size_t k = call_index[&site]++;
        for (auto& m : spec.metrics)
          prop[m.name][i] += m->compute(rec.outputs[k], out) / static_cast<double>(rec.outputs.size());
      });
    std::map<std::string, std::vector<double>> out_metric;
    for (int64_t n = 0; n < n_samples; ++n) {
      const at::Tensor y = model.forward(inputs.narrow(0, n, 1), n);
      for (auto& m : spec.metrics) out_metric[m.name].push_back(m->compute(fp_out[n], y));
    }
    for (auto* s : sites) s->set_tap(nullptr);

    h5.set_attr(g, "method", v.method.name);
    h5.set_attr(g, "method_config", plugin_yaml(v.method));
    h5.set_attr(g, "weight_format", v.method->weight_format_label());
    h5.set_attr(g, "act_format", v.method->act_format_label());
    h5.write(g + "/layers/weight_rel_mse", at::tensor(w_rel, at::kDouble));
    h5.write(g + "/layers/quantized", at::tensor(quantized, at::kDouble).to(at::kByte));
    VariantSummary vs{v.label, v.method.name, v.method->weight_format_label(), v.method->act_format_label(), 0, {}};
    for (double q : quantized) vs.quantized_layers += q > 0;
    for (auto& m : spec.metrics) {
      h5.write(g + "/layers/" + m.name + "_isolated", at::tensor(iso[m.name], at::kDouble));
      h5.write(g + "/layers/" + m.name + "_propagated", at::tensor(prop[m.name], at::kDouble));
      const at::Tensor per_sample = at::tensor(out_metric[m.name], at::kDouble);
      h5.write(g + "/output/" + m.name, per_sample);
      const double mean = per_sample.mean().item<double>();
      h5.set_attr(g + "/output", m.name + "_mean", mean);
      vs.output_metrics.emplace_back(m.name, mean);
    }
    summary.variants.push_back(vs);
  }
  // Leave the model as it was loaded.
  for (size_t i = 0; i < sites.size(); ++i) {
    sites[i]->set_weight(fp_weights[i]);
    sites[i]->set_act_format(nullptr);
  }

  h5.write_strings("/variant_labels", labels);
  h5.set_attr("/", "format_version", int64_t{1});
  h5.set_attr("/", "pqlab_version", std::string(version()));
  h5.set_attr("/", "git_commit", std::string(git_commit()));
  h5.set_attr("/", "experiment", spec.name);
  h5.set_attr("/", "config", spec.resolved_yaml);
  h5.set_attr("/", "config_source", spec.source_path);
  h5.set_attr("/", "seed", spec.seed);
  h5.set_attr("/", "host", hostname());
  h5.set_attr("/", "start_time", start);
  h5.set_attr("/", "end_time", now_iso8601());
  h5.set_attr("/", "torch_version", torch_version());
  h5.set_attr("/", "device", model.device());
  h5.set_attr("/", "dtype", model.dtype());
  h5.set_attr("/", "model", spec.model.name);
  h5.commit();
  return summary;
}

std::string format_summary_table(const RunSummary& s) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head = {"variant", "method", "weights", "acts", "layers"};
  if (!s.variants.empty())
    for (const auto& [name, v] : s.variants[0].output_metrics) head.push_back(name);
  rows.push_back(head);
  for (const auto& v : s.variants) {
    std::vector<std::string> r = {v.label, v.method, v.weight_format, v.act_format, std::to_string(v.quantized_layers)};
    for (const auto& [name, val] : v.output_metrics) {
      std::ostringstream os;
      os << std::setprecision(4) << val;
      r.push_back(os.str());
    }
    rows.push_back(r);
  }
  std::vector<size_t> w(head.size(), 0);
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
  std::ostringstream os;
  for (size_t k = 0; k < rows.size(); ++k) {
    for (size_t i = 0; i < rows[k].size(); ++i)
      os << (i ? "  " : "") << std::left << std::setw(static_cast<int>(w[i])) << rows[k][i];
    os << '\n';
    if (k == 0) {
      size_t total = 0;
      for (size_t i = 0; i < w.size(); ++i) total += w[i] + (i ? 2 : 0);
      os << std::string(total, '-') << '\n';
    }
  }
  return os.str();
}

}  // namespace pqlab
