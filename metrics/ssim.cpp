// ssim: structural similarity (Wang, Bovik, Sheikh, Simoncelli 2004) in float64, on grey images
// [N, H, W] or [N, 1, H, W] (H, W >= 11), averaged over images. Follows pytorch-msssim's ssim()
// (equivalently skimage's structural_similarity with gaussian_weights=True, sigma=1.5,
// use_sample_covariance=False, whose reflect-padded border is cropped away): an 11x11 Gaussian
// window, sigma 1.5, normalised to sum 1; 'valid' convolution (no padding); population (biased)
// local variances; C1 = (0.01 L)^2, C2 = (0.03 L)^2 with L = `data_range`. The SSIM map is
// averaged over all valid window positions of each image, then over images.
// Tests: tests/metrics/ssim_test.cpp
#include <ATen/ATen.h>

#include <cmath>
#include <vector>

#include "framework/config/config_io.h"
#include "framework/core/error.h"
#include "framework/registry/registries.h"

namespace pqlab::metrics {

struct SsimConfig {
  double data_range = 2.0;
  template <class IO> static void map(IO& io, SsimConfig& c) {
    io.field("data_range", c.data_range,
             "dynamic range L of the pixels (2 for images in [-1, 1], 1 for [0, 1], 255 for bytes)",
             config::in_range(1e-30, 1e30));
  }
};

class Ssim final : public ConfiguredPlugin<Metric, SsimConfig> {
 public:
  static constexpr int64_t kWin = 11;
  static constexpr double kSigma = 1.5, kK1 = 0.01, kK2 = 0.03;

  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override { return "SSIM"; }
  bool higher_is_better() const override { return true; }
  double compute(const at::Tensor& ref, const at::Tensor& test) const override {
    if (ref.sizes() != test.sizes()) throw RuntimeError("ssim: reference and test shapes differ");
    at::Tensor x = ref.detach().to(at::kCPU).to(at::kDouble), y = test.detach().to(at::kCPU).to(at::kDouble);
    if (x.dim() == 3) {
      x = x.unsqueeze(1);
      y = y.unsqueeze(1);
    }
    if (x.dim() != 4 || x.size(1) != 1)
      throw RuntimeError("ssim: expected grey images [N, H, W] or [N, 1, H, W]");
    if (x.size(0) < 1 || x.size(2) < kWin || x.size(3) < kWin)
      throw RuntimeError("ssim: need at least one image of at least 11x11 pixels");

    std::vector<double> g(kWin);
    double sum = 0;
    for (int64_t i = 0; i < kWin; ++i) {
      const double d = static_cast<double>(i - kWin / 2);
      g[static_cast<size_t>(i)] = std::exp(-d * d / (2 * kSigma * kSigma));
      sum += g[static_cast<size_t>(i)];
    }
    const at::Tensor g1 = at::tensor(g, at::kDouble) / sum;
    const at::Tensor window = at::outer(g1, g1).view({1, 1, kWin, kWin});
    const auto filt = [&](const at::Tensor& t) { return at::conv2d(t, window); };  // 'valid'

    const double c1 = std::pow(kK1 * cfg_.data_range, 2), c2 = std::pow(kK2 * cfg_.data_range, 2);
    const at::Tensor mu1 = filt(x), mu2 = filt(y);
    const at::Tensor mu11 = mu1 * mu1, mu22 = mu2 * mu2, mu12 = mu1 * mu2;
    const at::Tensor s11 = filt(x * x) - mu11, s22 = filt(y * y) - mu22, s12 = filt(x * y) - mu12;
    const at::Tensor map = ((2 * mu12 + c1) * (2 * s12 + c2)) / ((mu11 + mu22 + c1) * (s11 + s22 + c2));
    return map.mean().item<double>();  // every image has the same number of positions
  }
};

}  // namespace pqlab::metrics

PQLAB_PLUGIN(metric, ssim, pqlab::metrics::Ssim,
             "structural similarity (Wang et al. 2004; 11x11 Gaussian window, sigma 1.5) on grey images (higher is better)")
