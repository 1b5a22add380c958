// sqnr: signal-to-quantization-noise ratio in dB, 10 log10(||ref||^2 / ||test - ref||^2), float64.
// +inf when test equals ref exactly; NaN when the reference is all zeros.
// Tests: tests/metrics/sqnr_test.cpp
#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "framework/core/error.h"
#include "framework/registry/registries.h"

namespace pqlab::metrics {

struct SqnrConfig {
  template <class IO> static void map(IO&, SqnrConfig&) {}
};

class Sqnr final : public ConfiguredPlugin<Metric, SqnrConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override { return "SQNR (dB)"; }
  bool higher_is_better() const override { return true; }
  double compute(const at::Tensor& ref, const at::Tensor& test) const override {
    if (ref.sizes() != test.sizes()) throw RuntimeError("sqnr: reference and test shapes differ");
    const at::Tensor r = ref.to(at::kDouble);
    const double signal = r.pow(2).sum().item<double>();
    const double noise = (test.to(at::kDouble) - r).pow(2).sum().item<double>();
    if (signal == 0) return std::nan("");
    if (noise == 0) return std::numeric_limits<double>::infinity();
    return 10.0 * std::log10(signal / noise);
  }
};

}  // namespace pqlab::metrics

PQLAB_PLUGIN(metric, sqnr, pqlab::metrics::Sqnr, "signal-to-quantization-noise ratio in dB (higher is better)")
