// Orchestration of `pqlab run`: full-precision reference pass, then each variant on the same
// held-out inputs, per-layer and output errors, one HDF5 result file. No plugin specifics here.
#pragma once
#include <string>
#include <vector>

#include "framework/experiment/experiment_spec.h"

namespace pqlab {

struct RunOptions {
  std::string out_dir;  ///< overrides output.dir when non-empty
  bool print_table = true;
};

struct VariantSummary {
  std::string label, method, weight_format, act_format;
  int64_t quantized_layers = 0;
  std::vector<std::pair<std::string, double>> output_metrics;  ///< metric name -> mean over samples
};

struct RunSummary {
  std::string result_path;
  std::vector<VariantSummary> variants;
};

/// Runs the experiment and writes <out_dir>/<name>.h5 (atomically). Throws RuntimeError on failure.
RunSummary run_experiment(ExperimentSpec& spec, const RunOptions& opts);

/// Renders the summary as an aligned text table.
std::string format_summary_table(const RunSummary& s);

}  // namespace pqlab
