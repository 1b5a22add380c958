#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/common/plugins.h"

namespace pqlab {
namespace {

// Plain-loop SSIM over every 11x11 'valid' window (Gaussian sigma 1.5), for float64 [N, H, W].
double reference_ssim(const at::Tensor& a, const at::Tensor& b, double L) {
  const int64_t n = a.size(0), h = a.size(1), w = a.size(2), k = 11;
  std::vector<double> g(k);
  double gs = 0;
  for (int64_t i = 0; i < k; ++i) gs += g[i] = std::exp(-std::pow(i - 5.0, 2) / (2 * 1.5 * 1.5));
  const double c1 = std::pow(0.01 * L, 2), c2 = std::pow(0.03 * L, 2);
  const auto A = a.accessor<double, 3>(), B = b.accessor<double, 3>();
  double total = 0;
  int64_t count = 0;
  for (int64_t img = 0; img < n; ++img)
    for (int64_t y = 0; y + k <= h; ++y)
      for (int64_t x = 0; x + k <= w; ++x) {
        double mx = 0, my = 0, mxx = 0, myy = 0, mxy = 0;
        for (int64_t i = 0; i < k; ++i)
          for (int64_t j = 0; j < k; ++j) {
            const double wt = g[i] * g[j] / (gs * gs), p = A[img][y + i][x + j], q = B[img][y + i][x + j];
            mx += wt * p; my += wt * q; mxx += wt * p * p; myy += wt * q * q; mxy += wt * p * q;
          }
        const double vx = mxx - mx * mx, vy = myy - my * my, cxy = mxy - mx * my;
        total += ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
        ++count;
      }
  return total / static_cast<double>(count);
}

}  // namespace

TEST(ssim, identical_images_give_one) {
  auto m = test::make_plugin<Metric>(test::builtin(), "ssim");
  at::manual_seed(1);
  const at::Tensor x = at::rand({3, 16, 20}) * 2 - 1;
  EXPECT_NEAR(m->compute(x, x), 1.0, 1e-12);
  EXPECT_NEAR(m->compute(x.unsqueeze(1), x.unsqueeze(1)), 1.0, 1e-12);  // [N, 1, H, W]
  EXPECT_TRUE(m->higher_is_better());
}

TEST(ssim, constant_shift_matches_plain_loop) {
  auto m = test::make_plugin<Metric>(test::builtin(), "ssim");
  at::manual_seed(2);
  const at::Tensor x = at::rand({2, 14, 13}, at::kDouble) * 2 - 1;
  const at::Tensor y = x + 0.3;  // only the luminance term drops below 1
  const double expected = reference_ssim(x, y, 2.0);
  EXPECT_LT(expected, 1.0);
  EXPECT_NEAR(m->compute(x, y), expected, 1e-12);
  // A constant image against its shift: every window is the same, l = (2ab + C1) / (a^2 + b^2 + C1).
  const double c1 = std::pow(0.01 * 2.0, 2);
  EXPECT_NEAR(m->compute(at::full({1, 11, 11}, 0.2, at::kDouble), at::full({1, 11, 11}, 0.5, at::kDouble)),
              (2 * 0.2 * 0.5 + c1) / (0.2 * 0.2 + 0.5 * 0.5 + c1), 1e-12);
}

TEST(ssim, noise_is_symmetric_below_one_and_matches_plain_loop) {
  auto m = test::make_plugin<Metric>(test::builtin(), "{name: ssim, data_range: 1.0}");
  at::manual_seed(3);
  const at::Tensor x = at::rand({2, 15, 17}, at::kDouble);
  const at::Tensor y = (x + 0.1 * at::randn({2, 15, 17}, at::kDouble)).clamp(0, 1);
  const double s = m->compute(x, y);
  EXPECT_LT(s, 0.99);
  EXPECT_GT(s, 0.0);
  EXPECT_NEAR(s, m->compute(y, x), 1e-12);
  EXPECT_NEAR(s, reference_ssim(x, y, 1.0), 1e-12);
}

TEST(ssim, rejects_bad_shapes) {
  auto m = test::make_plugin<Metric>(test::builtin(), "ssim");
  EXPECT_THROW(m->compute(at::zeros({1, 10, 20}), at::zeros({1, 10, 20})), RuntimeError);  // < 11 rows
  EXPECT_THROW(m->compute(at::zeros({1, 3, 16, 16}), at::zeros({1, 3, 16, 16})), RuntimeError);  // RGB
  EXPECT_THROW(m->compute(at::zeros({1, 16, 16}), at::zeros({1, 16, 17})), RuntimeError);
}

}  // namespace pqlab
