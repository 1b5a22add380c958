// Orchestration of `pqlab run`, as stages with one job each: calibration (statistics at the
// input of every quantized site), the full-precision reference trajectories of the held-out
// samples (once per run), then per variant: apply the method, step evaluation (teacher-forced
// per [site, step] and [sample, step]; free-running per [sample, step]), the image stage, and
// the result file (framework/experiment/result_paths.h names every path). No plugin specifics.
#pragma once
#include <cmath>
#include <iosfwd>
#include <string>
#include <vector>

#include "framework/experiment/experiment_spec.h"
#include "framework/experiment/paired.h"
#include "framework/interfaces/method.h"

namespace pqlab {

struct RunOptions {
  std::string out_dir;  ///< overrides output.dir when non-empty
  bool print_table = true;
  /// Warnings and notes during the run ("pqlab: warning: ..." lines), e.g. about leftover
  /// partial result files in the output folder; null = not shown.
  std::ostream* diagnostics = nullptr;
  /// Progress (phase, variant, step, sample, ETA); null = silent. progress_terminal: redraw one
  /// line in place (only for a terminal; logs get plain lines).
  std::ostream* progress = nullptr;
  bool progress_terminal = false;
  /// Folder of the calibration cache (calibration_cache.h), e.g. a sweep's; empty = no cache.
  std::string calibration_cache_dir;
};

struct VariantSummary {
  std::string label, method, weight_format, act_format;
  int64_t quantized_layers = 0;
  /// Teacher-forced relative MSE, mean over quantized layers (each pooled over steps); NaN when
  /// not measured.
  double isolated = std::nan(""), propagated = std::nan("");
  /// Teacher-forced velocity relative MSE, mean over samples and steps, and at the last step.
  double velocity = std::nan(""), velocity_last = std::nan("");
  double final_latent = std::nan("");  ///< free-running final latent relative MSE, mean over samples
  std::vector<std::pair<std::string, double>> output_metrics;  ///< metric name -> mean over samples
  /// Image metrics, then paired image metrics (NaN for full precision), in config order.
  std::vector<std::pair<std::string, double>> image_metrics;
  /// Peak bytes held by tensors on the model's GPU while the method was applied (-1: not measured).
  int64_t peak_bytes_apply = -1;
  /// Per held-out sample: velocity, latent, output metrics, image metrics that have per-sample values.
  std::vector<SampleValues> samples;
  std::string control;                   ///< label of its paired control ("" = none)
  std::string control_of;                ///< on a control: the variant it controls
  std::vector<PairedDifference> paired;  ///< variant minus control, when it has a control
  MethodReport report;                   ///< the method's decisions and phase times
  std::vector<std::pair<std::string, double>> seconds;  ///< wall seconds per stage (apply, teacher_forced, ...)
};

struct RunSummary {
  std::string result_path;
  std::string images_dir;  ///< folder of the PNG grids, or "" when none were written
  bool has_reference_row = false;
  double seconds_calibration = 0, seconds_reference = 0;
  /// Peak bytes held by tensors on the model's GPU during calibration (-1: not measured, e.g. CPU).
  int64_t peak_bytes_calibration = -1;
  double bootstrap_level = 0.95;
  int64_t bootstrap_resamples = 0;
  VariantSummary reference;  ///< full precision (label "fp"): its image metrics, when there is an image stage
  std::vector<VariantSummary> variants;
};

/// Runs the experiment and writes <out_dir>/<name>.h5 (atomically). Throws RuntimeError on failure.
RunSummary run_experiment(ExperimentSpec& spec, const RunOptions& opts);

/// Renders the summary as an aligned text table: one row per variant; under a variant with a
/// control, its difference to the control and the interval; then the permutation decisions per
/// site kind. framework/experiment/summary_table.cpp
std::string format_summary_table(const RunSummary& s);

}  // namespace pqlab
