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
#include "framework/core/progress.h"
#include "framework/core/paths.h"
#include "framework/core/version.h"
#include "framework/io/hdf5_file.h"
#include "framework/io/png.h"
#include "framework/experiment/calibration.h"
#include "framework/experiment/result_paths.h"
#include "framework/experiment/step_evaluation.h"
#include "framework/experiment/trajectory.h"
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


// Stage: calibration trajectories in full precision, statistics at the input of every site some
// variant quantizes.
// "step 3/12, samples 4-5/10": which model call of a phase just finished.
std::string call_text(const StepContext& c, int64_t samples) {
  std::string s = "step " + std::to_string(c.step + 1) + "/" + std::to_string(c.num_steps) + ", sample";
  if (c.count > 1) s += "s " + std::to_string(c.first_sample + 1) + "-" + std::to_string(c.first_sample + c.count);
  else s += " " + std::to_string(c.first_sample + 1);
  return s + "/" + std::to_string(samples);
}

// Model calls of a phase over n samples in batches.
int64_t calls(int64_t n, int64_t batch, int64_t steps) { return (n + batch - 1) / batch * steps; }

Calibration calibrate(ModelAdapter& model, const std::vector<LinearSite*>& sites, const ExperimentSpec& spec,
                      int64_t keep_rows, Progress& progress) {
  const CalibrationSpec& c = spec.calibration;
  const int64_t first = c.first_sample >= 0 ? c.first_sample : spec.data.eval_samples;
  const int64_t steps = static_cast<int64_t>(model.schedule().size()) - 1;
  CalibrationCollector collector(sites, c.buckets, steps, keep_rows, spec.calibration_seed());
  StepContext current;
  collector.arm(&current);
  const at::Tensor x0 = model.sample_inputs(c.samples, spec.calibration_seed());
  TrajectoryHooks hooks;
  hooks.before_call = [&current](const StepContext& ctx) { current = ctx; };
  progress.phase("calibration", calls(c.samples, c.batch_size, steps));
  hooks.after_call = [&](const StepContext& ctx, const at::Tensor&, const at::Tensor&) {
    StepContext shown = ctx;
    shown.first_sample -= first;
    progress.advance(call_text(shown, c.samples));
  };
  for (int64_t i = 0; i < c.samples; i += c.batch_size)
    run_trajectory(model, x0.narrow(0, i, std::min(c.batch_size, c.samples - i)), first + i, hooks);
  collector.disarm();
  Calibration cal = collector.finish();
  cal.timesteps = model.schedule();
  cal.noise_seed = spec.calibration_seed();
  for (int64_t i = 0; i < c.samples; ++i) cal.samples.push_back(first + i);
  cal.prompts = model.prompts(first, c.samples);
  return cal;
}

void write_calibration(H5Writer& h5, const Calibration& cal, int64_t keep_rows) {
  namespace rp = result_paths;
  h5.write(rp::calibration_samples(), at::tensor(cal.samples, at::kLong));
  if (!cal.prompts.empty()) h5.write_strings(rp::calibration_prompts(), cal.prompts);
  h5.write(rp::calibration_timesteps(), at::tensor(cal.timesteps, at::kDouble));
  h5.write(rp::calibration_buckets(), at::tensor(cal.bucket_first_step, at::kLong));
  h5.write_strings(rp::calibration_site_keys(), cal.site_keys);
  h5.set_attr(rp::kCalibration, "noise_seed", static_cast<int64_t>(cal.noise_seed));
  h5.set_attr(rp::kCalibration, "keep_rows", keep_rows);
  for (const std::string& key : cal.site_keys) {
    const std::vector<InputStats>& per_bucket = cal.stats.at(key);
    std::vector<at::Tensor> count, sum, sumsq, absmax;
    for (const InputStats& st : per_bucket) {
      count.push_back(st.count.reshape({1}));
      sum.push_back(st.sum);
      sumsq.push_back(st.sumsq);
      absmax.push_back(st.absmax);
    }
    const std::string g = rp::calibration_site(key);
    h5.write(g + "/count", at::cat(count).cpu());
    h5.write(g + "/sum", at::stack(sum).cpu());
    h5.write(g + "/sumsq", at::stack(sumsq).cpu());
    h5.write(g + "/absmax", at::stack(absmax).cpu());
    const InputStats pooled = cal.pooled(key);
    h5.write(g + "/pooled_sum", pooled.sum.cpu());
    h5.write(g + "/pooled_sumsq", pooled.sumsq.cpu());
    h5.write(g + "/pooled_absmax", pooled.absmax.cpu());
    h5.set_attr(g, "pooled_count", pooled.count.item<double>());
    h5.write(g + "/weight_sq_mean", cal.weight_sq_mean.at(key).cpu());
    h5.write(g + "/weight_absmax", cal.weight_absmax.at(key).cpu());
    if (keep_rows > 0) {
      // [buckets, keep_rows, K] float32, rows a bucket did not fill are NaN.
      const int64_t k = per_bucket.at(0).sum.size(0);
      at::Tensor rows = at::full({static_cast<int64_t>(per_bucket.size()), keep_rows, k}, std::nan(""), at::kFloat);
      for (size_t b = 0; b < per_bucket.size(); ++b)
        if (per_bucket[b].rows.defined())
          rows[static_cast<int64_t>(b)].narrow(0, 0, per_bucket[b].rows.size(0)).copy_(per_bucket[b].rows.cpu());
      h5.write(g + "/rows", rows);
    }
  }
}

std::vector<SiteState> states_of(const std::vector<LinearSite*>& sites) {
  std::vector<SiteState> v;
  for (auto* s : sites) v.push_back(s->state());
  return v;
}

void set_states(const std::vector<LinearSite*>& sites, const std::vector<SiteState>& states) {
  for (size_t i = 0; i < sites.size(); ++i) sites[i]->set_state(states[i]);
}

double mean_of(const at::Tensor& t) { return t.numel() ? t.to(at::kDouble).mean().item<double>() : std::nan(""); }

}  // namespace

RunSummary run_experiment(ExperimentSpec& spec, const RunOptions& opts) {
  namespace rp = result_paths;
  const std::string start = now_iso8601();
  spec.apply_run_options();
  ModelAdapter& model = *spec.model.impl;
  model.load();
  const std::vector<LinearSite*> sites = model.linear_sites();
  for (LinearSite* s : sites) s->set_pack_quantized(spec.pack_weights);
  const std::vector<SiteState> fp = states_of(sites);

  // What the methods need from calibration; the calibration block can ask for more.
  CalibrationNeeds needs;
  for (auto& v : spec.variants) {
    const CalibrationNeeds n = v.method->needs();
    needs.statistics = needs.statistics || n.statistics;
    needs.keep_rows = std::max(needs.keep_rows, n.keep_rows);
  }
  const int64_t keep_rows = std::max(needs.keep_rows, spec.calibration.keep_rows);
  if (needs.statistics && spec.calibration.samples == 0)
    throw UsageError("a method of this experiment needs calibration statistics: set 'calibration.samples' > 0");

  auto apply_variant = [&](VariantSpec& v, const Calibration* cal) {
    set_states(sites, fp);
    try {
      v.method->apply(model, cal);
    } catch (const UsageError& e) {
      // Found only once layer shapes are known; point at the variant's config all the same.
      Diagnostic d;
      d.loc = v.where;
      d.message = "variant '" + v.label + "': " + e.what();
      throw ConfigError({d});
    }
  };
  // Methods that need no statistics are applied once before any forward pass, so that a setting
  // no layer can take (a group size that does not divide K) fails in seconds.
  for (auto& v : spec.variants)
    if (!v.method->needs().statistics) apply_variant(v, nullptr);
  set_states(sites, fp);

  // Stage: calibration.
  std::vector<LinearSite*> selected;
  for (auto* s : sites)
    for (auto& v : spec.variants)
      if (v.method->selects(s->key())) {
        selected.push_back(s);
        break;
      }
  const bool calibrated = spec.calibration.samples > 0;
  Calibration cal;
  Progress progress(opts.progress, opts.progress_terminal);
  if (calibrated) cal = calibrate(model, selected, spec, keep_rows, progress);

  // Stage: the full-precision reference trajectories of the held-out samples (shared by all variants).
  const at::Tensor x0 = model.sample_inputs(spec.data.eval_samples, spec.eval_seed());
  const int64_t n_samples = x0.size(0);
  const int64_t n_tf = std::min(spec.data.layer_samples, n_samples);
  const int64_t batch = spec.data.batch_size;
  const int64_t steps = static_cast<int64_t>(model.schedule().size()) - 1;
  progress.phase("reference (full precision)", calls(n_samples, batch, steps));
  const std::vector<at::Tensor> ref =
      reference_trajectory(model, x0, batch, [&](const StepContext& c) { progress.advance(call_text(c, n_samples)); });
  const at::Tensor fp_out = ref.back();

  // Image stage of the reference: only for models whose outputs are images.
  ImageSet fp_images;
  const bool image_metrics_wanted = !spec.images.metrics.empty() || !spec.images.paired.empty();
  if (spec.images.any()) fp_images.images = model.to_images(fp_out);
  if (image_metrics_wanted && !fp_images.images.defined())
    throw UsageError("the model's outputs are not images (" + spec.model->describe() +
                     "), so 'images.metrics' / 'images.paired' cannot be computed; remove them");
  const bool images = fp_images.images.defined();
  const std::vector<std::string> eval_prompts = model.prompts(0, n_samples);
  if (images) {
    fp_images.prompts = eval_prompts;
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
    h5.write(rp::reference_images(), fp_images.images);
    if (!fp_images.prompts.empty()) h5.write_strings(rp::reference_prompts(), fp_images.prompts);
    summary.has_reference_row = true;
    summary.reference.label = "fp";
    summary.reference.method = "none";
    summary.reference.weight_format = summary.reference.act_format = "-";
    summary.reference.image_metrics = image_metrics(spec.images, fp_images, nullptr, h5, rp::kReference);
    write_grid("fp", fp_images.images);
  }
  if (calibrated) write_calibration(h5, cal, keep_rows);
  std::vector<int64_t> eval_ids;
  for (int64_t i = 0; i < n_samples; ++i) eval_ids.push_back(i);
  h5.write(rp::evaluation_samples(), at::tensor(eval_ids, at::kLong));
  h5.write(rp::evaluation_timesteps(), at::tensor(model.schedule(), at::kDouble));
  h5.set_attr(rp::kEvaluation, "noise_seed", static_cast<int64_t>(spec.eval_seed()));
  h5.set_attr(rp::kEvaluation, "teacher_forced_samples", n_tf);
  if (!eval_prompts.empty()) h5.write_strings(rp::evaluation_prompts(), eval_prompts);

  // Layer table, shared by all variants.
  std::vector<std::string> keys, roles;
  std::vector<int64_t> in_f, out_f;
  for (auto* s : sites) {
    keys.push_back(s->key());
    roles.push_back(s->role());
    in_f.push_back(s->in_features());
    out_f.push_back(s->out_features());
  }
  h5.write_strings(rp::kLayerKey, keys);
  h5.write_strings(rp::kLayerRole, roles);
  h5.write(rp::kLayerInFeatures, at::tensor(in_f, at::kLong));
  h5.write(rp::kLayerOutFeatures, at::tensor(out_f, at::kLong));

  // ||W||^2 of every full-precision weight, once for all variants (the weight error's denominator).
  std::vector<double> fp_weight_sq;
  for (const SiteState& st : fp) fp_weight_sq.push_back(site_weight(st).to(at::kDouble).pow(2).sum().item<double>());

  std::vector<std::string> labels;
  for (auto& v : spec.variants) {
    labels.push_back(v.label);
    // Stage: apply the variant.
    apply_variant(v, calibrated ? &cal : nullptr);
    const std::vector<SiteState> quant = states_of(sites);
    const size_t L = sites.size();
    std::vector<double> w_rel(L), quantized(L);
    for (size_t i = 0; i < L; ++i) {
      const double denom = fp_weight_sq[i];
      // The full-precision weight in the variant's row and column order (absorbed permutations).
      at::Tensor w_fp = site_weight(fp[i]);
      if (quant[i].output_order.defined()) w_fp = w_fp.index_select(0, quant[i].output_order);
      if (quant[i].column_order.defined()) w_fp = w_fp.index_select(1, quant[i].column_order);
      w_rel[i] = denom > 0 ? (site_weight(quant[i]).to(at::kDouble) - w_fp.to(at::kDouble)).pow(2).sum().item<double>() / denom
                           : std::nan("");
      quantized[i] = v.method->selects(sites[i]->key()) ? 1.0 : 0.0;
    }

    // Stage: step evaluation, teacher-forced on the first layer_samples, then free-running on all.
    VariantSummary vs;
    vs.label = v.label;
    vs.method = v.method.name;
    vs.weight_format = v.method->weight_format_label();
    vs.act_format = v.method->act_format_label();
    for (double q : quantized) vs.quantized_layers += q > 0;
    if (n_tf > 0) {
      progress.phase(v.label + " teacher-forced", calls(n_tf, batch, steps));
      const TeacherForcedErrors tf =
          evaluate_teacher_forced(model, sites, fp, quant, ref, n_tf, batch, spec.data.propagated,
                                  [&](const StepContext& c) { progress.advance(call_text(c, n_tf)); });
      const at::Tensor iso = (tf.isolated_err / tf.site_ref).cpu(), prop = (tf.propagated_err / tf.site_ref).cpu();
      h5.write(rp::variant_tf_isolated(v.label), iso);
      h5.write(rp::variant_tf_propagated(v.label), prop);
      h5.write(rp::variant_tf_velocity_rel_mse(v.label), tf.velocity_rel_mse.cpu());
      h5.write(rp::variant_tf_velocity_cosine(v.label), tf.velocity_cosine.cpu());
      // Over all steps: sum of squared error / sum of squared reference, per site.
      const at::Tensor ref_all = tf.site_ref.sum(1).cpu();
      const at::Tensor iso_all = tf.isolated_err.sum(1).cpu() / ref_all, prop_all = tf.propagated_err.sum(1).cpu() / ref_all;
      h5.write(rp::variant_isolated(v.label), iso_all);
      h5.write(rp::variant_propagated(v.label), prop_all);
      const at::Tensor q = at::tensor(quantized, at::kDouble).to(at::kBool);
      vs.isolated = q.any().item<bool>() ? mean_of(iso_all.masked_select(q)) : 0.0;
      vs.propagated = q.any().item<bool>() ? mean_of(prop_all.masked_select(q)) : 0.0;
      const at::Tensor vel = tf.velocity_rel_mse.cpu().mean(0);
      vs.velocity_first = vel[0].item<double>();
      vs.velocity_mid = vel[steps / 2].item<double>();
      vs.velocity_last = vel[steps - 1].item<double>();
    }
    set_states(sites, quant);
    progress.phase(v.label + " free-running", calls(n_samples, batch, steps));
    const FreeRunning fr =
        evaluate_free_running(model, ref, batch, [&](const StepContext& c) { progress.advance(call_text(c, n_samples)); });
    h5.write(rp::variant_fr_latent_rel_mse(v.label), fr.latent_rel_mse.cpu());
    vs.final_latent = mean_of(fr.latent_rel_mse.select(1, steps - 1));
    const at::Tensor& out = fr.result;

    h5.set_attr(rp::variant(v.label), "method", v.method.name);
    h5.set_attr(rp::variant(v.label), "method_config", plugin_yaml(v.method));
    h5.set_attr(rp::variant(v.label), "weight_format", v.method->weight_format_label());
    h5.set_attr(rp::variant(v.label), "act_format", v.method->act_format_label());
    h5.write(rp::variant_weight_rel_mse(v.label), at::tensor(w_rel, at::kDouble));
    h5.write(rp::variant_quantized(v.label), at::tensor(quantized, at::kDouble).to(at::kByte));
    for (auto& m : spec.metrics) {
      std::vector<double> per_sample;
      for (int64_t n = 0; n < n_samples; ++n) per_sample.push_back(m->compute(fp_out.narrow(0, n, 1), out.narrow(0, n, 1)));
      const at::Tensor t = at::tensor(per_sample, at::kDouble);
      h5.write(rp::variant_output_metric(v.label, m.name), t);
      const double mean = t.mean().item<double>();
      h5.set_attr(rp::variant_output(v.label), m.name + "_mean", mean);
      vs.output_metrics.emplace_back(m.name, mean);
    }
    // Stage: images.
    if (images) {
      ImageSet set{model.to_images(out), fp_images.prompts};
      h5.write(rp::variant_images(v.label), set.images);
      vs.image_metrics = image_metrics(spec.images, set, &fp_images, h5, rp::variant_images(v.label));
      write_grid(v.label, set.images);
    }
    summary.variants.push_back(vs);
  }
  set_states(sites, fp);  // leave the model as it was loaded
  progress.finish();

  // Stage: provenance, then the atomic commit.
  h5.write_strings(rp::kVariantLabels, labels);
  h5.set_attr("/", "format_version", int64_t{rp::kFormatVersion});
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
  h5.set_attr("/", "layer_samples", n_tf);
  h5.set_attr("/", "calibration_samples", spec.calibration.samples);
  h5.set_attr("/", "steps", steps);
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
  // Teacher-forced: isolated / propagated layer error, velocity error at the first / middle / last
  // step; free-running: final latent error; then image and output metrics.
  std::vector<std::string> head = {"variant", "method", "weights", "acts", "layers", "iso",   "prop",
                                   "v_first", "v_mid",  "v_last",  "latent"};
  const size_t fixed = head.size();
  const VariantSummary* first = !s.variants.empty() ? &s.variants[0] : nullptr;
  if (first) {
    for (const auto& [name, v] : first->image_metrics) head.push_back(name);
    for (const auto& [name, v] : first->output_metrics) head.push_back(name);
  }
  rows.push_back(head);
  auto add = [&](const VariantSummary& v, bool reference) {
    std::vector<std::string> r = {v.label, v.method, v.weight_format, v.act_format,
                                  reference ? "-" : std::to_string(v.quantized_layers)};
    for (double x : {v.isolated, v.propagated, v.velocity_first, v.velocity_mid, v.velocity_last, v.final_latent})
      r.push_back(reference ? "-" : num(x));
    r.resize(fixed, "-");
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
