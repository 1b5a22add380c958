// Paired bootstrap confidence intervals for the difference between a method and its control on
// the same held-out samples (PermuQuant's paired control, issue "Experiment pipeline, part 2").
// Tests: tests/framework/stats/bootstrap_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace pqlab {

struct BootstrapInterval {
  double mean = 0;   ///< mean of the differences (the point estimate)
  double lo = 0;     ///< lower end of the percentile interval
  double hi = 0;     ///< upper end
  double level = 0;  ///< e.g. 0.95
  int64_t resamples = 0;
};

/// Percentile bootstrap of the mean of `diffs` (float64-able [n], n >= 1; e.g. method minus control
/// per held-out sample): `resamples` resamples of n indices drawn with replacement from a CPU
/// generator seeded with `seed`; lo/hi are the (1 - level)/2 and (1 + level)/2 quantiles of the
/// resampled means, linearly interpolated between order statistics (numpy's default "linear"
/// method). Deterministic for a seed. NaN differences make every field NaN (no silent dropping).
/// RuntimeError for n = 0, resamples < 1 or a level outside (0, 1).
BootstrapInterval paired_bootstrap(const at::Tensor& diffs, int64_t resamples, double level, uint64_t seed);

}  // namespace pqlab
