#include "framework/stats/bootstrap.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <string>

#include "framework/core/error.h"

namespace pqlab {
namespace {

// Quantile q of sorted values v [m] by linear interpolation between order statistics.
double quantile(const double* v, int64_t m, double q) {
  const double pos = q * static_cast<double>(m - 1);
  const auto i = static_cast<int64_t>(std::floor(pos));
  const double f = pos - static_cast<double>(i);
  return i + 1 < m ? v[i] + f * (v[i + 1] - v[i]) : v[m - 1];
}

}  // namespace

BootstrapInterval paired_bootstrap(const at::Tensor& diffs, int64_t resamples, double level, uint64_t seed) {
  const at::Tensor d = diffs.detach().to(at::kCPU, at::kDouble).reshape({-1}).contiguous();
  const int64_t n = d.numel();
  if (n == 0) throw RuntimeError("paired_bootstrap: no differences");
  if (resamples < 1) throw RuntimeError("paired_bootstrap: resamples must be >= 1, got " + std::to_string(resamples));
  if (!(level > 0.0 && level < 1.0)) throw RuntimeError("paired_bootstrap: level must be in (0, 1)");
  BootstrapInterval r;
  r.level = level;
  r.resamples = resamples;
  r.mean = d.mean().item<double>();
  if (std::isnan(r.mean)) {
    r.lo = r.hi = r.mean = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  auto gen = at::detail::createCPUGenerator(seed);
  const at::Tensor idx = at::randint(n, {resamples, n}, gen, at::TensorOptions().dtype(at::kLong));
  const at::Tensor means = std::get<0>(at::sort(d.index_select(0, idx.reshape({-1})).view({resamples, n}).mean(1))).contiguous();
  const double* v = means.data_ptr<double>();
  r.lo = quantile(v, resamples, (1.0 - level) / 2.0);
  r.hi = quantile(v, resamples, (1.0 + level) / 2.0);
  return r;
}

}  // namespace pqlab
