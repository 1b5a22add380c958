// paired_differences (framework/experiment/paired.h): pairing by name, exact per-sample
// differences, per-step intervals, and the errors.
#include "framework/experiment/paired.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "framework/core/error.h"

namespace pqlab {
namespace {

TEST(paired, differences_are_exact_and_pair_by_name) {
  const at::Tensor a = at::tensor({1.0, 2.0, 3.0, 4.0}, at::kDouble), b = at::tensor({0.5, 2.5, 2.0, 3.0}, at::kDouble);
  const at::Tensor steps_a = at::arange(8, at::kDouble).reshape({4, 2}), steps_b = at::zeros({4, 2}, at::kDouble);
  const std::vector<PairedDifference> d =
      paired_differences({{"x", a, steps_a}, {"only_variant", a, at::Tensor()}, {"y", b, at::Tensor()}},
                         {{"y", a, at::Tensor()}, {"x", b, steps_b}}, 500, 0.9, 7);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].name, "x");
  EXPECT_TRUE(at::equal(d[0].diffs, a - b));
  EXPECT_DOUBLE_EQ(d[0].variant, 2.5);
  EXPECT_DOUBLE_EQ(d[0].control, 2.0);
  EXPECT_DOUBLE_EQ(d[0].delta.mean, 0.5);
  const BootstrapInterval direct = paired_bootstrap(a - b, 500, 0.9, 7);
  EXPECT_EQ(d[0].delta.lo, direct.lo);
  EXPECT_EQ(d[0].delta.hi, direct.hi);
  // Per step: step 0 holds 0, 2, 4, 6 (mean 3), step 1 holds 1, 3, 5, 7 (mean 4).
  ASSERT_TRUE(d[0].step_mean.defined());
  EXPECT_TRUE(at::allclose(d[0].step_mean, at::tensor({3.0, 4.0}, at::kDouble)));
  EXPECT_EQ(d[0].step_lo[1].item<double>(), paired_bootstrap(steps_a.select(1, 1).contiguous(), 500, 0.9, 7).lo);
  EXPECT_TRUE((d[0].step_lo <= d[0].step_mean).all().item<bool>());
  EXPECT_TRUE((d[0].step_hi >= d[0].step_mean).all().item<bool>());
  EXPECT_EQ(d[1].name, "y");
  EXPECT_TRUE(at::equal(d[1].diffs, b - a));
  EXPECT_FALSE(d[1].step_mean.defined());
}

TEST(paired, one_sample_has_a_difference_but_no_interval) {
  const std::vector<PairedDifference> d = paired_differences(
      {{"v", at::tensor({2.0}, at::kDouble), at::tensor({1.0, 3.0}, at::kDouble).reshape({1, 2})}},
      {{"v", at::tensor({0.5}, at::kDouble), at::zeros({1, 2}, at::kDouble)}}, 100, 0.95, 1);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_DOUBLE_EQ(d[0].delta.mean, 1.5);
  EXPECT_TRUE(std::isnan(d[0].delta.lo) && std::isnan(d[0].delta.hi));
  EXPECT_DOUBLE_EQ(d[0].step_mean[1].item<double>(), 3.0);
  EXPECT_TRUE(std::isnan(d[0].step_hi[0].item<double>()));
}

TEST(paired, different_sample_counts_are_an_error) {
  try {
    paired_differences({{"v", at::zeros({3}, at::kDouble), at::Tensor()}}, {{"v", at::zeros({2}, at::kDouble), at::Tensor()}},
                       10, 0.95, 1);
    FAIL() << "no error";
  } catch (const RuntimeError& e) {
    EXPECT_STREQ(e.what(), "paired difference 'v': 3 samples against 2 for the control");
  }
}

}  // namespace
}  // namespace pqlab
