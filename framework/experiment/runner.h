// Orchestration of `pqlab run`: full-precision reference pass, then each variant on the same
// held-out inputs: per-layer errors (on the first data.layer_samples inputs), output errors,
// and for models whose outputs are images the image metrics and PNG grids; one HDF5 result file.
// No plugin specifics here.
#pragma once
#include <iosfwd>
#include <string>
#include <vector>

#include "framework/experiment/experiment_spec.h"

namespace pqlab {

struct RunOptions {
  std::string out_dir;  ///< overrides output.dir when non-empty
  bool print_table = true;
  /// Warnings and notes during the run ("pqlab: warning: ..." lines), e.g. about leftover
  /// partial result files in the output folder; null = not shown.
  std::ostream* diagnostics = nullptr;
};

struct VariantSummary {
  std::string label, method, weight_format, act_format;
  int64_t quantized_layers = 0;
  std::vector<std::pair<std::string, double>> output_metrics;  ///< metric name -> mean over samples
  /// Image metrics, then paired image metrics (NaN for full precision), in config order.
  std::vector<std::pair<std::string, double>> image_metrics;
};

struct RunSummary {
  std::string result_path;
  std::string images_dir;  ///< folder of the PNG grids, or "" when none were written
  bool has_reference_row = false;
  VariantSummary reference;  ///< full precision (label "fp"): its image metrics, when there is an image stage
  std::vector<VariantSummary> variants;
};

/// Runs the experiment and writes <out_dir>/<name>.h5 (atomically). Throws RuntimeError on failure.
RunSummary run_experiment(ExperimentSpec& spec, const RunOptions& opts);

/// Renders the summary as an aligned text table.
std::string format_summary_table(const RunSummary& s);

}  // namespace pqlab
