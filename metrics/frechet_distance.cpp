// frechet_distance: the Frechet distance between Gaussians fitted to two sets of feature vectors
// (the FID formula), in float64:
//   d^2 = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))
// compute(reference [N, D], test [M, D]); N and M may differ; N, M >= 2, D >= 1. Covariances are
// the unbiased (N - 1) sample covariances, as numpy.cov and pytorch-fid use.
// The formula and why its matrix square root is stable: framework/stats/frechet.h/.cpp.
// Tests: tests/metrics/frechet_distance_test.cpp
#include <ATen/ATen.h>

#include "framework/core/error.h"
#include "framework/registry/registries.h"
#include "framework/stats/frechet.h"

namespace pqlab::metrics {

struct FrechetDistanceConfig {
  template <class IO> static void map(IO&, FrechetDistanceConfig&) {}
};

class FrechetDistance final : public ConfiguredPlugin<Metric, FrechetDistanceConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override { return "Frechet distance"; }
  bool higher_is_better() const override { return false; }
  double compute(const at::Tensor& ref, const at::Tensor& test) const override {
    if (ref.dim() != 2 || test.dim() != 2)
      throw RuntimeError("frechet_distance: expected feature matrices [N, D] and [M, D]");
    if (ref.size(1) != test.size(1))
      throw RuntimeError("frechet_distance: feature dimensions differ (" + std::to_string(ref.size(1)) + " vs " +
                         std::to_string(test.size(1)) + ")");
    if (ref.size(1) < 1) throw RuntimeError("frechet_distance: feature dimension must be >= 1");
    if (ref.size(0) < 2 || test.size(0) < 2)
      throw RuntimeError("frechet_distance: need at least 2 samples in each set for a covariance");

    const auto [mu1, s1] = feature_moments(ref);
    const auto [mu2, s2] = feature_moments(test);
    return frechet_distance(mu1, s1, mu2, s2);
  }
};

}  // namespace pqlab::metrics

PQLAB_PLUGIN(metric, frechet_distance, pqlab::metrics::FrechetDistance,
             "Frechet distance between Gaussian fits of two feature sets [N, D], [M, D] (FID formula; lower is better)")
