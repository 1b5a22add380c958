#include "framework/experiment/runner.h"

#include <ATen/ATen.h>
#include <torch/version.h>  // macros only; not the torch C++ frontend
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <functional>
#include <map>

#include "framework/config/config_value.h"
#include "framework/config/config_writer.h"
#include "framework/core/device_memory.h"
#include "framework/core/host.h"
#include "framework/core/partial_files.h"
#include "framework/core/progress.h"
#include "framework/core/paths.h"
#include "framework/core/version.h"
#include "framework/io/hdf5_file.h"
#include "framework/io/png.h"
#include "framework/experiment/calibration.h"
#include "framework/experiment/calibration_cache.h"
#include "framework/experiment/result_paths.h"
#include "framework/experiment/step_evaluation.h"
#include "framework/experiment/trajectory.h"
#include "framework/core/error.h"
#include "framework/quant/input_transform.h"
#include "framework/quant/linear_site.h"
#include "framework/quant/output_map.h"

namespace pqlab {
namespace {

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
  // The reservoir rows (FLUX.1-dev: ~6 GB at 256 rows x 4 buckets x every layer) move to host
  // memory once collected: methods read one layer's rows at a time and copy them to the device,
  // so they need not sit on the GPU next to the model and each variant's weights.
  for (auto& [key, buckets] : cal.stats)
    for (InputStats& b : buckets)
      if (b.rows.defined()) {
        b.rows = b.rows.cpu();
        b.keys = b.keys.cpu();
      }
  cal.timesteps = model.schedule();
  cal.noise_seed = spec.calibration_seed();
  for (int64_t i = 0; i < c.samples; ++i) cal.samples.push_back(first + i);
  cal.prompts = model.prompts(first, c.samples);
  return cal;
}

// What the calibration statistics of this run depend on (calibration_cache.h).
std::string calibration_identity_of(ExperimentSpec& spec, const std::vector<LinearSite*>& sites, int64_t keep_rows) {
  config::Node model, calibration;
  {
    config::ConfigWriter w(model);
    config::plugin_field(w, "model", spec.model, "");
  }
  {
    config::ConfigWriter w(calibration);
    CalibrationSpec::map(w, spec.calibration);
  }
  std::vector<std::string> keys;
  for (const LinearSite* s : sites) keys.push_back(s->key());
  const int64_t first = spec.calibration.first_sample >= 0 ? spec.calibration.first_sample : spec.data.eval_samples;
  return calibration_identity(config::to_yaml(model), config::to_yaml(calibration), first, spec.seed, spec.threads,
                              keep_rows, keys);
}

void write_calibration(H5Writer& h5, const Calibration& cal, int64_t keep_rows, bool store_rows) {
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
    if (keep_rows > 0 && store_rows) {
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

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

void write_permutations(H5Writer& h5, const std::string& label, const MethodReport& r) {
  namespace rp = result_paths;
  if (r.permutations.empty()) return;
  std::vector<std::string> kind, consumers;
  std::vector<uint8_t> gather, accepted;
  std::vector<double> e0, e1;
  std::vector<int64_t> offsets = {0};
  std::vector<at::Tensor> perms;
  int64_t n_accepted = 0;
  for (const PermutationDecision& d : r.permutations) {
    kind.push_back(d.kind);
    consumers.push_back(joined(d.consumers));
    gather.push_back(d.gather);
    accepted.push_back(d.accepted);
    n_accepted += d.accepted;
    e0.push_back(d.error_orig);
    e1.push_back(d.error_perm);
    perms.push_back(d.permutation);
    offsets.push_back(offsets.back() + d.permutation.numel());
  }
  const std::string g = rp::variant_permutations(label);
  h5.write_strings(g + "/kind", kind);
  h5.write_strings(g + "/consumers", consumers);
  h5.write(g + "/gather", at::tensor(std::vector<int64_t>(gather.begin(), gather.end()), at::kLong).to(at::kByte));
  h5.write(g + "/accepted", at::tensor(std::vector<int64_t>(accepted.begin(), accepted.end()), at::kLong).to(at::kByte));
  h5.write(g + "/error_orig", at::tensor(e0, at::kDouble));
  h5.write(g + "/error_perm", at::tensor(e1, at::kDouble));
  h5.write(g + "/permutation", at::cat(perms));
  h5.write(g + "/permutation_offsets", at::tensor(offsets, at::kLong));
  h5.set_attr(g, "sites", static_cast<int64_t>(r.permutations.size()));
  h5.set_attr(g, "accepted", n_accepted);
}

void write_site_records(H5Writer& h5, const std::string& label, const MethodReport& r) {
  for (const SiteRecord& rec : r.sites) {
    const std::string g = result_paths::variant_site(label, rec.key);
    for (const auto& [name, t] : rec.tensors) h5.write(g + "/" + name, t.cpu().contiguous());
    for (const auto& [name, v] : rec.numbers) h5.set_attr(g, name, v);
    for (const auto& [name, v] : rec.texts) h5.set_attr(g, name, v);
  }
}

void write_paired(H5Writer& h5, const VariantSummary& v, const BootstrapSpec& b, uint64_t seed) {
  namespace rp = result_paths;
  const std::string g = rp::variant_paired(v.label);
  h5.set_attr(g, "control", v.control);
  h5.set_attr(g, "resamples", b.resamples);
  h5.set_attr(g, "level", b.level);
  h5.set_attr(g, "seed", static_cast<int64_t>(seed));
  for (const PairedDifference& d : v.paired) {
    const std::string n = rp::variant_paired_number(v.label, d.name);
    h5.write(n + "/diffs", d.diffs);
    h5.set_attr(n, "variant", d.variant);
    h5.set_attr(n, "control", d.control);
    h5.set_attr(n, "mean", d.delta.mean);
    h5.set_attr(n, "lo", d.delta.lo);
    h5.set_attr(n, "hi", d.delta.hi);
    if (d.step_mean.defined()) {
      h5.write(n + "/step_mean", d.step_mean);
      h5.write(n + "/step_lo", d.step_lo);
      h5.write(n + "/step_hi", d.step_hi);
    }
  }
}

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

  auto apply_variant = [&](VariantSpec& v, const Calibration* cal) -> MethodReport {
    set_states(sites, fp);
    try {
      return v.method->apply(model, cal);
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
  auto t_stage = Clock::now();
  const std::string device = model.device();
  reset_peak_device_memory(device);
  std::string cache_path;
  bool cache_hit = false;
  if (calibrated && opts.calibration_cache_dir.empty()) {
    cal = calibrate(model, selected, spec, keep_rows, progress);
  } else if (calibrated) {
    CachedCalibration c = cached_calibration(opts.calibration_cache_dir,
                                             calibration_identity_of(spec, selected, keep_rows), device,
                                             [&] { return calibrate(model, selected, spec, keep_rows, progress); });
    cal = std::move(c.cal);
    cache_path = c.path;
    cache_hit = c.hit;
    if (opts.diagnostics)
      *opts.diagnostics << "pqlab: note: calibration " << (cache_hit ? "read from" : "computed and stored in")
                        << " the cache '" << cache_path << "'\n";
  }
  const double seconds_calibration = since(t_stage);
  const int64_t peak_calibration = peak_device_memory(device);
  t_stage = Clock::now();

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
  const double seconds_reference = since(t_stage);

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
  summary.bootstrap_level = spec.bootstrap.level;
  summary.seconds_calibration = seconds_calibration;
  summary.seconds_reference = seconds_reference;
  summary.peak_bytes_calibration = peak_calibration;
  summary.bootstrap_resamples = spec.bootstrap.resamples;
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
  if (calibrated) write_calibration(h5, cal, keep_rows, spec.calibration.store_rows);
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
    VariantSummary vs;
    auto tc = Clock::now();
    reset_peak_device_memory(device);
    vs.report = apply_variant(v, calibrated ? &cal : nullptr);
    vs.seconds.emplace_back("apply", since(tc));
    vs.peak_bytes_apply = peak_device_memory(device);
    const std::vector<SiteState> quant = states_of(sites);
    const size_t L = sites.size();
    std::vector<double> w_rel(L), quantized(L);
    for (size_t i = 0; i < L; ++i) {
      double denom = fp_weight_sq[i];
      // The full-precision weight as the variant's quantizer sees it: in its row order, and in its
      // column order (absorbed permutations), or, with an input transform T, folded through T
      // from the variant's input order (a rotated or smoothed weight is compared with the rotated
      // or smoothed full-precision one, not with W).
      at::Tensor w_fp = site_weight(fp[i]);
      const SiteState& q = quant[i];
      if (q.output_order.defined()) w_fp = w_fp.index_select(0, q.output_order);
      if (q.output_map) w_fp = q.output_map->fold_rows(w_fp);
      if (q.input_transform || q.input_map) {
        if (q.input_order.defined()) w_fp = w_fp.index_select(1, q.input_order);
        if (q.input_map) w_fp = q.input_map->fold_weight(w_fp);
        if (q.input_transform) w_fp = q.input_transform->fold_weight(w_fp);
      } else if (q.column_order.defined()) {
        w_fp = w_fp.index_select(1, q.column_order);
      }
      if (q.output_map || q.input_map || q.input_transform)
        denom = w_fp.to(at::kDouble).pow(2).sum().item<double>();  // relative to the weight as the variant sees it
      w_rel[i] = denom > 0 ? (site_weight(quant[i]).to(at::kDouble) - w_fp.to(at::kDouble)).pow(2).sum().item<double>() / denom
                           : std::nan("");
      quantized[i] = v.method->selects(sites[i]->key()) ? 1.0 : 0.0;
    }

    // Stage: step evaluation, teacher-forced on the first layer_samples, then free-running on all.
    vs.label = v.label;
    vs.method = v.method.name;
    vs.control = v.control_label;
    vs.control_of = v.control_of;
    if (!vs.control_of.empty()) vs.method += "[control]";
    vs.weight_format = v.method->weight_format_label();
    vs.act_format = v.method->act_format_label();
    for (double q : quantized) vs.quantized_layers += q > 0;
    tc = Clock::now();
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
      const at::Tensor vel = tf.velocity_rel_mse.cpu().to(at::kDouble);
      vs.velocity = mean_of(vel);
      vs.velocity_last = vel.select(1, steps - 1).mean().item<double>();
      vs.samples.push_back({"velocity", vel.mean(1), vel});
    }
    vs.seconds.emplace_back("teacher_forced", since(tc));
    tc = Clock::now();
    set_states(sites, quant);
    progress.phase(v.label + " free-running", calls(n_samples, batch, steps));
    const FreeRunning fr =
        evaluate_free_running(model, ref, batch, [&](const StepContext& c) { progress.advance(call_text(c, n_samples)); });
    h5.write(rp::variant_fr_latent_rel_mse(v.label), fr.latent_rel_mse.cpu());
    vs.final_latent = mean_of(fr.latent_rel_mse.select(1, steps - 1));
    const at::Tensor latent = fr.latent_rel_mse.cpu().to(at::kDouble);
    vs.samples.push_back({"latent", latent.select(1, steps - 1).contiguous(), latent});
    const at::Tensor& out = fr.result;
    vs.seconds.emplace_back("free_running", since(tc));

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
      vs.samples.push_back({m.name, t, at::Tensor()});
    }
    // Stage: images.
    tc = Clock::now();
    if (images) {
      ImageSet set{model.to_images(out), fp_images.prompts};
      h5.write(rp::variant_images(v.label), set.images);
      vs.image_metrics = image_metrics(spec.images, set, &fp_images, h5, rp::variant_images(v.label));
      write_grid(v.label, set.images);
      // Per-image values for the paired differences, only where there is a pair (they cost a
      // second classifier pass and one metric call per image).
      const bool paired = !vs.control.empty() || !vs.control_of.empty();
      for (auto& m : spec.images.metrics) {
        const at::Tensor per = paired ? m->per_sample(set) : at::Tensor();
        if (per.defined()) vs.samples.push_back({m.name, per.to(at::kDouble), at::Tensor()});
      }
      for (auto& m : spec.images.paired) {
        if (!paired) break;
        std::vector<double> per;
        for (int64_t n = 0; n < n_samples; ++n)
          per.push_back(m->compute(fp_images.images.narrow(0, n, 1), set.images.narrow(0, n, 1)));
        vs.samples.push_back({m.name, at::tensor(per, at::kDouble), at::Tensor()});
      }
    }
    if (images) vs.seconds.emplace_back("images", since(tc));
    if (!vs.control.empty()) h5.set_attr(rp::variant(v.label), "control", vs.control);
    if (!vs.control_of.empty()) h5.set_attr(rp::variant(v.label), "control_of", vs.control_of);
    write_permutations(h5, v.label, vs.report);
    write_site_records(h5, v.label, vs.report);
    h5.set_attr(rp::variant(v.label), "peak_device_bytes_apply", vs.peak_bytes_apply);
    for (const auto& [phase, sec] : vs.report.seconds) h5.set_attr(rp::variant(v.label), "seconds_" + phase, sec);
    for (const auto& [phase, sec] : vs.seconds) h5.set_attr(rp::variant(v.label), "seconds_" + phase, sec);
    summary.variants.push_back(vs);
  }
  // Paired differences of each variant to its control (evaluated on the same samples and seeds).
  for (VariantSummary& vs : summary.variants) {
    if (vs.control.empty()) continue;
    for (const VariantSummary& c : summary.variants)
      if (c.label == vs.control)
        vs.paired = paired_differences(vs.samples, c.samples, spec.bootstrap.resamples, spec.bootstrap.level,
                                       spec.bootstrap_seed());
    write_paired(h5, vs, spec.bootstrap, spec.bootstrap_seed());
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
  h5.set_attr("/", "host", host_name());
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
  h5.set_attr("/", "seconds_calibration", seconds_calibration);
  h5.set_attr("/", "seconds_reference", seconds_reference);
  if (!cache_path.empty()) {
    // The statistics are identical either way; these say where they came from.
    h5.set_attr("/", "calibration_cache", cache_path);
    h5.set_attr("/", "calibration_cache_hit", cache_hit);
  }
  // -1: not measured (CPU model, or a build without CUDA headers).
  h5.set_attr("/", "peak_device_bytes_calibration", peak_calibration);
  h5.commit();
  return summary;
}

}  // namespace pqlab
