// Paired differences between a variant and its control (the same method with the control
// ordering, on the same held-out samples and seeds): per sample, and per step where the
// numbers are per step, with seeded paired percentile bootstrap intervals over samples
// (framework/stats/bootstrap.h). Tests: tests/framework/experiment/paired_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "framework/stats/bootstrap.h"

namespace pqlab {

/// One headline number of a variant, per held-out sample.
struct SampleValues {
  std::string name;    ///< "velocity", "latent", or a metric's name
  at::Tensor values;   ///< float64 [n] on the CPU, one per sample (its mean is the table's number)
  at::Tensor per_step; ///< float64 [n, S] on the CPU, or undefined
};

/// variant minus control for one number.
struct PairedDifference {
  std::string name;
  double variant = std::nan(""), control = std::nan("");  ///< means over samples
  at::Tensor diffs;             ///< float64 [n]: variant - control per sample
  BootstrapInterval delta;      ///< of the mean of diffs
  /// float64 [S]: mean and interval of the per-step differences; undefined without per_step.
  at::Tensor step_mean, step_lo, step_hi;
};

/// Pairs the numbers of `variant` and `control` by name (those only one of them has are skipped;
/// same name, different sample counts is a RuntimeError) and bootstraps each difference with
/// `resamples` resamples at `level`; every number and every step uses `seed`, so all resample
/// the same samples. With one sample there is no interval: lo and hi are NaN (a bootstrap of one
/// value would return a zero-width interval that looks decisive).
std::vector<PairedDifference> paired_differences(const std::vector<SampleValues>& variant,
                                                 const std::vector<SampleValues>& control, int64_t resamples,
                                                 double level, uint64_t seed);

}  // namespace pqlab
