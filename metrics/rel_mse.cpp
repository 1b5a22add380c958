// rel_mse: ||test - ref||^2 / ||ref||^2, in float64. Scale-free, so layers of different magnitude
// compare; NaN when the reference is all zeros (undefined, never silently 0 or inf).
// Tests: tests/metrics/rel_mse_test.cpp
#include <ATen/ATen.h>

#include <cmath>

#include "framework/core/error.h"
#include "framework/registry/registries.h"

namespace pqlab::metrics {

struct RelMseConfig {
  template <class IO> static void map(IO&, RelMseConfig&) {}
};

class RelMse final : public ConfiguredPlugin<Metric, RelMseConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override { return "relative MSE"; }
  bool higher_is_better() const override { return false; }
  double compute(const at::Tensor& ref, const at::Tensor& test) const override {
    if (ref.sizes() != test.sizes()) throw RuntimeError("rel_mse: reference and test shapes differ");
    const at::Tensor r = ref.to(at::kDouble);
    const double denom = r.pow(2).sum().item<double>();
    if (denom == 0) return std::nan("");
    return (test.to(at::kDouble) - r).pow(2).sum().item<double>() / denom;
  }
};

}  // namespace pqlab::metrics

PQLAB_PLUGIN(metric, rel_mse, pqlab::metrics::RelMse, "relative mean squared error ||q-r||^2/||r||^2 (lower is better)")
