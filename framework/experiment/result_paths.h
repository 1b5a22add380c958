// Every path of a pqlab result file, in one place: the runner writes through these, `pqlab
// inspect` and the coming `pqlab report` read through them, and docs/results-format.md documents
// them. A new dataset or group is added here first.
#pragma once
#include <string>

namespace pqlab::result_paths {

// Provenance attributes on "/" (strings unless noted): format_version (int), pqlab_version,
// git_commit, experiment, config (resolved YAML), config_source, seed (int), host, start_time,
// end_time, torch_version, device, dtype, model, eval_samples (int), layer_samples (int).
inline const std::string kRoot = "/";
inline constexpr long kFormatVersion = 1;

/// [V] strings: the variant labels in config order.
inline const std::string kVariantLabels = "/variant_labels";

/// The layer table shared by all variants: [L] strings / int64.
inline const std::string kLayerKey = "/layers/key";
inline const std::string kLayerRole = "/layers/role";
inline const std::string kLayerInFeatures = "/layers/in_features";
inline const std::string kLayerOutFeatures = "/layers/out_features";

/// Full-precision images [N, C, H, W] float32 in [0, 1], prompts [N]; image metrics as attributes.
inline const std::string kReference = "/reference";
inline std::string reference_images() { return kReference + "/images"; }
inline std::string reference_prompts() { return kReference + "/prompts"; }

/// Calibration stage (when calibration.samples > 0). Attributes: noise_seed, keep_rows.
/// samples [C] int64 sample indices (they pick prompts), prompts [C], timesteps [S+1] float64,
/// bucket_first_step [B] int64, site_keys [Lc] strings; per site (group named by its key):
/// count [B], sum [B, K], sumsq [B, K], absmax [B, K] float64 per bucket; pooled_sum,
/// pooled_sumsq, pooled_absmax [K] and attribute pooled_count over all buckets; weight_sq_mean,
/// weight_absmax [K]; rows [B, keep_rows, K] float32 reservoir (NaN where a bucket had fewer; absent with calibration.store_rows false).
inline const std::string kCalibration = "/calibration";
inline std::string calibration_samples() { return kCalibration + "/samples"; }
inline std::string calibration_prompts() { return kCalibration + "/prompts"; }
inline std::string calibration_timesteps() { return kCalibration + "/timesteps"; }
inline std::string calibration_buckets() { return kCalibration + "/bucket_first_step"; }
inline std::string calibration_site_keys() { return kCalibration + "/site_keys"; }
inline std::string calibration_site(const std::string& key) { return kCalibration + "/sites/" + key; }

/// Held-out evaluation. Attributes: noise_seed, teacher_forced_samples (the first n of samples).
/// samples [N] int64, prompts [N], timesteps [S+1] float64.
inline const std::string kEvaluation = "/evaluation";
inline std::string evaluation_samples() { return kEvaluation + "/samples"; }
inline std::string evaluation_prompts() { return kEvaluation + "/prompts"; }
inline std::string evaluation_timesteps() { return kEvaluation + "/timesteps"; }

/// One variant's group; its attributes: method, method_config, weight_format, act_format,
/// control (label of its paired control) or control_of (on a control: the variant it controls),
/// and wall seconds: seconds_apply (with the method's phases seconds_ordering, seconds_acceptance,
/// seconds_absorption, seconds_quantization where it has them), seconds_teacher_forced,
/// seconds_free_running, seconds_images. Root attributes seconds_calibration, seconds_reference.
inline std::string variant(const std::string& label) { return "/variants/" + label; }
/// [L] float64 relative weight MSE, [L] uint8 quantized flag.
inline std::string variant_weight_rel_mse(const std::string& label) { return variant(label) + "/layers/weight_rel_mse"; }
inline std::string variant_quantized(const std::string& label) { return variant(label) + "/layers/quantized"; }
/// [L] float64 teacher-forced relative MSE per site over all steps (sum of squared error over
/// sum of squared reference): the site alone on the full-precision model's input (isolated), and
/// inside the quantized model (propagated; NaN with data.propagated false).
inline std::string variant_isolated(const std::string& label) { return variant(label) + "/layers/isolated_rel_mse"; }
inline std::string variant_propagated(const std::string& label) { return variant(label) + "/layers/propagated_rel_mse"; }
/// Teacher-forced, per step: [L, S] float64 isolated / propagated relative MSE per site and step;
/// [n, S] float64 velocity relative MSE and cosine similarity per teacher-forced sample and step.
inline std::string variant_tf(const std::string& label) { return variant(label) + "/teacher_forced"; }
inline std::string variant_tf_isolated(const std::string& label) { return variant_tf(label) + "/isolated_rel_mse"; }
inline std::string variant_tf_propagated(const std::string& label) { return variant_tf(label) + "/propagated_rel_mse"; }
inline std::string variant_tf_velocity_rel_mse(const std::string& label) { return variant_tf(label) + "/velocity_rel_mse"; }
inline std::string variant_tf_velocity_cosine(const std::string& label) { return variant_tf(label) + "/velocity_cosine"; }
/// Free-running: [N, S] float64 relative MSE of the variant's latent after step s + 1 against the
/// full-precision trajectory's (the last column is the final output's).
inline std::string variant_fr_latent_rel_mse(const std::string& label) {
  return variant(label) + "/free_running/latent_rel_mse";
}
/// Group of the output metrics: [N] float64 dataset per metric, attribute <metric>_mean.
inline std::string variant_output(const std::string& label) { return variant(label) + "/output"; }
inline std::string variant_output_metric(const std::string& label, const std::string& m) {
  return variant_output(label) + "/" + m;
}
/// What the method decided per permutation site it considered, in model order ([P] each):
/// kind (strings), consumers (strings, comma-separated keys), gather (uint8: absorbed by a gather
/// at the consumers' input, not by producer rows), accepted (uint8), error_orig and error_perm
/// (float64 acceptance error without / with the permutation; NaN without an acceptance rule);
/// permutation (int64, the proposals concatenated; site p is [offsets[p], offsets[p+1])) and
/// permutation_offsets [P+1]. Attributes: sites, accepted. Absent when it considered none.
/// What the method decided for one linear site (Method report SiteRecord): attributes and datasets
/// by the method's names (alpha, scales, rank, rotation, ...).
inline std::string variant_site(const std::string& label, const std::string& key) {
  return variant(label) + "/sites/" + key;
}
inline std::string variant_permutations(const std::string& label) { return variant(label) + "/permutations"; }
/// Paired differences to the control (variants with one). Attributes: control, resamples, level,
/// seed. One group per number (velocity: teacher-forced velocity relative MSE, mean over steps;
/// latent: free-running final latent relative MSE; output and image metrics by name) with diffs
/// [n] float64 (variant - control per held-out sample) and attributes variant, control (means),
/// mean, lo, hi (the interval of the mean difference); velocity and latent also have step_mean,
/// step_lo, step_hi [S] (per step: velocity at step s, latent after step s + 1).
inline std::string variant_paired(const std::string& label) { return variant(label) + "/paired"; }
inline std::string variant_paired_number(const std::string& label, const std::string& name) {
  return variant_paired(label) + "/" + name;
}
/// [N, C, H, W] float32 images of the variant; image metrics as attributes.
inline std::string variant_images(const std::string& label) { return variant(label) + "/images"; }

}  // namespace pqlab::result_paths
