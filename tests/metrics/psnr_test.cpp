#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "tests/common/plugins.h"

namespace pqlab {

TEST(psnr, matches_hand_computed_value) {
  auto m = test::make_plugin<Metric>(test::builtin(), "psnr");  // peak 2
  const at::Tensor r = at::zeros({4});
  const at::Tensor t = at::tensor({0.2f, -0.2f, 0.2f, -0.2f});  // MSE = 0.04 (up to float rounding)
  const double mse = std::pow(static_cast<double>(0.2f), 2);
  EXPECT_NEAR(m->compute(r, t), 10.0 * std::log10(4.0 / mse), 1e-12);
  EXPECT_NEAR(m->compute(r, t), 20.0, 1e-5);  // 10 log10(4 / 0.04)
  EXPECT_TRUE(m->higher_is_better());
}

TEST(psnr, peak_is_configurable) {
  auto m = test::make_plugin<Metric>(test::builtin(), "{name: psnr, peak: 255}");
  const at::Tensor r = at::full({2, 3}, 100.0);
  const at::Tensor t = r + at::tensor({1.0, -1.0, 1.0, -1.0, 1.0, -1.0}, at::kDouble).view({2, 3});  // MSE = 1
  EXPECT_NEAR(m->compute(r, t), 20.0 * std::log10(255.0), 1e-12);
}

TEST(psnr, identical_is_inf_and_shapes_must_match) {
  auto m = test::make_plugin<Metric>(test::builtin(), "psnr");
  const at::Tensor r = at::randn({3, 5});
  EXPECT_EQ(m->compute(r, r), std::numeric_limits<double>::infinity());
  EXPECT_THROW(m->compute(at::zeros({4}), at::ones({5})), RuntimeError);
}

}  // namespace pqlab
