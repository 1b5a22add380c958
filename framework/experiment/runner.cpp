#include "framework/experiment/runner.h"

#include <ATen/ATen.h>
#include <torch/version.h>  // macros only; not the torch C++ frontend
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <functional>
#include <iomanip>
#include <map>
#include <sstream>

#include "framework/config/config_value.h"
#include "framework/config/config_writer.h"
#include "framework/core/partial_files.h"
#include "framework/core/paths.h"
#include "framework/core/version.h"
#include "framework/io/hdf5_file.h"
#include "framework/io/png.h"
#include "framework/core/error.h"
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
  std::vector<at::Tensor> inputs, outputs;  // one per traced sample
};

// Runs every evaluation input through the model: the first `traced` one at a time with the taps
// `arm` installs (removed afterwards), the rest in batches of `batch`. Returns the outputs in
// sample order, concatenated along dim 0.
at::Tensor forward_all(ModelAdapter& model, const std::vector<LinearSite*>& sites, const at::Tensor& inputs,
                       int64_t traced, int64_t batch, const std::function<void()>& arm) {
  std::vector<at::Tensor> outs;
  const int64_t n = inputs.size(0);
  if (traced > 0 && arm) arm();
  for (int64_t i = 0; i < traced; ++i) outs.push_back(model.forward(inputs.narrow(0, i, 1), i).detach().clone());
  for (auto* s : sites) s->set_tap(nullptr);
  for (int64_t i = traced; i < n; i += batch)
    outs.push_back(model.forward(inputs.narrow(0, i, std::min(batch, n - i)), i).detach().clone());
  return at::cat(outs, 0);
}

// Image metrics of one image set (and, when `fp` is given, the paired metrics against it), in the
// order of ImagesSpec; also written as attributes of `group`.
std::vector<std::pair<std::string, double>> image_metrics(const ImagesSpec& spec, const ImageSet& set,
                                                          const ImageSet* fp, H5Writer& h5, const std::string& group) {
  std::vector<std::pair<std::string, double>> v;
  for (const auto& m : spec.metrics) v.emplace_back(m.name, m->compute(set));
  for (const auto& m : spec.paired)
    v.emplace_back(m.name, fp ? m->compute(fp->images, set.images) : std::nan(""));
  for (const auto& [name, val] : v)
    if (!std::isnan(val)) h5.set_attr(group, name, val);
  return v;
}

}  // namespace

RunSummary run_experiment(ExperimentSpec& spec, const RunOptions& opts) {
  const std::string start = now_iso8601();
  ModelAdapter& model = *spec.model.impl;
  model.load();
  std::vector<LinearSite*> sites = model.linear_sites();

  // Keep full-precision weights so every variant starts from the same model.
  std::vector<at::Tensor> fp_weights;
  for (auto* s : sites) fp_weights.push_back(s->weight().clone());

  auto restore_full_precision = [&] {
    for (size_t i = 0; i < sites.size(); ++i) {
      sites[i]->set_weight(fp_weights[i]);
      sites[i]->set_act_format(nullptr);
    }
  };
  auto apply_variant = [&](VariantSpec& v) {
    restore_full_precision();
    try {
      v.method->apply(model);
    } catch (const UsageError& e) {
      // Found only once layer shapes are known; point at the variant's config all the same.
      Diagnostic d;
      d.loc = v.where;
      d.message = "variant '" + v.label + "': " + e.what();
      throw ConfigError({d});
    }
  };
  // Every variant is applied once before any forward pass, so that a setting no layer can take
  // (a group size that does not divide K) fails in seconds, not after the full-precision pass.
  for (auto& v : spec.variants) apply_variant(v);
  restore_full_precision();

  const at::Tensor inputs = model.sample_inputs(spec.data.eval_samples, spec.eval_seed());
  const int64_t n_samples = inputs.size(0);
  const int64_t traced = std::min(spec.data.layer_samples, n_samples);
  const int64_t batch = spec.data.batch_size;

  // Full-precision pass.
  std::map<const LinearSite*, SiteRecord> fp_records;
  const at::Tensor fp_out = forward_all(model, sites, inputs, traced, batch, [&] {
    for (auto* s : sites)
      s->set_tap([&fp_records](const LinearSite& site, const at::Tensor& in, const at::Tensor& out) {
        fp_records[&site].inputs.push_back(in.detach().clone());
        fp_records[&site].outputs.push_back(out.detach().clone());
      });
  });

  // Image stage: only for models whose outputs are images.
  ImageSet fp_images;
  const bool image_metrics_wanted = !spec.images.metrics.empty() || !spec.images.paired.empty();
  if (spec.images.any()) fp_images.images = model.to_images(fp_out);
  if (image_metrics_wanted && !fp_images.images.defined())
    throw UsageError("the model's outputs are not images (" + spec.model->describe() +
                     "), so 'images.metrics' / 'images.paired' cannot be computed; remove them");
  const bool images = fp_images.images.defined();
  if (images) {
    fp_images.prompts = model.prompts(0, n_samples);
    for (auto& m : spec.images.metrics) m->prepare();
  }

  const std::string dir = opts.out_dir.empty() ? spec.output.dir : opts.out_dir;
  create_directories(dir);
  const std::string result_path = path_join(dir, spec.name + ".h5");
  // Leftovers of killed runs (SIGKILL, node failure) would otherwise pile up in the folder.
  const StalePartialScan stale = clean_stale_partial_files(dir, ".h5.partial-");
  if (opts.diagnostics) {
    for (const std::string& p : stale.removed)
      *opts.diagnostics << "pqlab: note: removed '" << p << "', left by a process of this host that no longer exists\n";
    for (const std::string& w : stale.warnings) *opts.diagnostics << "pqlab: warning: " << w << '\n';
  }
  H5Writer h5(result_path);

  RunSummary summary;
  summary.result_path = result_path;
  const std::string grid_dir = path_join(dir, spec.name + "_images");
  auto write_grid = [&](const std::string& label, const at::Tensor& img) {
    if (!images || !spec.images.grids) return;
    create_directories(grid_dir);
    write_png_grid(path_join(grid_dir, label + ".png"), img, spec.images.grid_columns, PixelRange::kZeroToOne);
    summary.images_dir = grid_dir;
  };
  if (images) {
    h5.write("/reference/images", fp_images.images);
    if (!fp_images.prompts.empty()) h5.write_strings("/reference/prompts", fp_images.prompts);
    summary.has_reference_row = true;
    summary.reference = {"fp", "none", "-", "-", 0, {}, image_metrics(spec.images, fp_images, nullptr, h5, "/reference")};
    write_grid("fp", fp_images.images);
  }

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

  std::vector<std::string> labels;
  for (auto& v : spec.variants) {
    labels.push_back(v.label);
    apply_variant(v);

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
    // Propagated error: the whole quantized model, each layer compared with its FP counterpart,
    // on the traced samples; then the remaining samples in batches.
    std::map<const LinearSite*, size_t> call_index;
    std::map<const LinearSite*, size_t> site_pos;
    for (size_t i = 0; i < L; ++i) site_pos[sites[i]] = i;
    const at::Tensor out = forward_all(model, sites, inputs, traced, batch, [&] {
      for (auto* s : sites)
        s->set_tap([&](const LinearSite& site, const at::Tensor&, const at::Tensor& y) {
          const size_t i = site_pos[&site];
          const SiteRecord& rec = fp_records[&site];
          const size_t k = call_index[&site]++;
          for (auto& m : spec.metrics)
            prop[m.name][i] += m->compute(rec.outputs[k], y) / static_cast<double>(rec.outputs.size());
        });
    });
    std::map<std::string, std::vector<double>> out_metric;
    for (int64_t n = 0; n < n_samples; ++n)
      for (auto& m : spec.metrics) out_metric[m.name].push_back(m->compute(fp_out.narrow(0, n, 1), out.narrow(0, n, 1)));

    if (traced == 0)  // no traced samples: per-layer errors are undefined, not zero
      for (auto* table : {&iso, &prop})
        for (auto& [name, vals] : *table) vals.assign(L, std::nan(""));
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
    if (images) {
      ImageSet set{model.to_images(out), fp_images.prompts};
      h5.write(g + "/images", set.images);
      vs.image_metrics = image_metrics(spec.images, set, &fp_images, h5, g + "/images");
      write_grid(v.label, set.images);
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
  h5.set_attr("/", "eval_samples", n_samples);
  h5.set_attr("/", "layer_samples", traced);
  h5.commit();
  return summary;
}

std::string format_summary_table(const RunSummary& s) {
  auto num = [](double v) {
    if (std::isnan(v)) return std::string("-");
    std::ostringstream os;
    os << std::setprecision(4) << v;
    return os.str();
  };
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head = {"variant", "method", "weights", "acts", "layers"};
  const VariantSummary* first = !s.variants.empty() ? &s.variants[0] : nullptr;
  if (first) {
    for (const auto& [name, v] : first->image_metrics) head.push_back(name);
    for (const auto& [name, v] : first->output_metrics) head.push_back(name);
  }
  rows.push_back(head);
  auto add = [&](const VariantSummary& v, bool reference) {
    std::vector<std::string> r = {v.label, v.method, v.weight_format, v.act_format,
                                  reference ? "-" : std::to_string(v.quantized_layers)};
    for (const auto& [name, val] : v.image_metrics) r.push_back(num(val));
    if (reference && first)
      r.resize(head.size(), "-");  // full precision has no error against itself
    else
      for (const auto& [name, val] : v.output_metrics) r.push_back(num(val));
    rows.push_back(r);
  };
  if (s.has_reference_row) add(s.reference, true);
  for (const auto& v : s.variants) add(v, false);
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
