// psnr: peak signal-to-noise ratio in dB, 10 log10(peak^2 / MSE), MSE over the whole tensor, in
// float64. `peak` is the data range (2 for images in [-1, 1], 1 for [0, 1], 255 for bytes).
// +inf when test equals reference exactly.
// Tests: tests/metrics/psnr_test.cpp
#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "framework/config/config_io.h"
#include "framework/core/error.h"
#include "framework/registry/registries.h"

namespace pqlab::metrics {

struct PsnrConfig {
  double peak = 2.0;
  template <class IO> static void map(IO& io, PsnrConfig& c) {
    io.field("peak", c.peak, "peak-to-peak data range (2 for images in [-1, 1], 1 for [0, 1], 255 for bytes)",
             config::in_range(1e-30, 1e30));
  }
};

class Psnr final : public ConfiguredPlugin<Metric, PsnrConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override { return "PSNR (dB)"; }
  bool higher_is_better() const override { return true; }
  double compute(const at::Tensor& ref, const at::Tensor& test) const override {
    if (ref.sizes() != test.sizes()) throw RuntimeError("psnr: reference and test shapes differ");
    if (ref.numel() == 0) throw RuntimeError("psnr: empty tensors");
    const double mse = (test.to(at::kDouble) - ref.to(at::kDouble)).pow(2).mean().item<double>();
    if (mse == 0) return std::numeric_limits<double>::infinity();
    return 10.0 * std::log10(cfg_.peak * cfg_.peak / mse);
  }
};

}  // namespace pqlab::metrics

PQLAB_PLUGIN(metric, psnr, pqlab::metrics::Psnr, "peak signal-to-noise ratio 10 log10(peak^2/MSE) in dB (higher is better)")
