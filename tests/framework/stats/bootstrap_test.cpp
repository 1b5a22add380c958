// paired_bootstrap: the 95% interval of a known distribution covers its mean at about the stated
// rate (seeded simulation); deterministic per seed; a constant gives a zero-width interval; NaN
// propagates; bad arguments are errors.
#include "framework/stats/bootstrap.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "framework/core/error.h"

namespace pqlab {
namespace {

TEST(bootstrap, covers_the_true_mean_at_the_stated_rate) {
  // 400 data sets of 40 draws from N(0.3, 1): the percentile interval of the mean has coverage a
  // little under nominal for small n (~0.94 here); far outside [0.90, 0.98] means a broken interval.
  auto gen = at::detail::createCPUGenerator(123);
  int covered = 0, trials = 400;
  double width = 0;
  for (int t = 0; t < trials; ++t) {
    const at::Tensor x = at::normal(0.3, 1.0, {40}, gen, at::TensorOptions().dtype(at::kDouble));
    const BootstrapInterval b = paired_bootstrap(x, 1000, 0.95, static_cast<uint64_t>(t));
    covered += b.lo <= 0.3 && 0.3 <= b.hi;
    width += (b.hi - b.lo) / trials;
    EXPECT_LE(b.lo, b.mean);
    EXPECT_GE(b.hi, b.mean);
  }
  const double rate = static_cast<double>(covered) / trials;
  EXPECT_GE(rate, 0.90);
  EXPECT_LE(rate, 0.98);
  // The normal-theory width is 2 * 1.96 / sqrt(40) = 0.62.
  EXPECT_NEAR(width, 0.62, 0.05);
}

TEST(bootstrap, seeded_constant_and_nan) {
  const at::Tensor x = at::tensor({0.1, -0.4, 0.7, 0.2, 0.0}, at::kDouble);
  const BootstrapInterval a = paired_bootstrap(x, 500, 0.9, 7), b = paired_bootstrap(x, 500, 0.9, 7);
  EXPECT_EQ(a.lo, b.lo);
  EXPECT_EQ(a.hi, b.hi);
  // Another seed, other resamples (on 30 continuous values, so the quantiles differ).
  const at::Tensor y = at::normal(0.0, 1.0, {30}, at::detail::createCPUGenerator(5), at::TensorOptions().dtype(at::kDouble));
  EXPECT_NE(paired_bootstrap(y, 500, 0.9, 8).lo, paired_bootstrap(y, 500, 0.9, 7).lo);
  EXPECT_DOUBLE_EQ(a.mean, 0.12);
  EXPECT_EQ(a.resamples, 500);
  const BootstrapInterval c = paired_bootstrap(at::full({6}, 2.5, at::kDouble), 100, 0.95, 1);
  EXPECT_EQ(c.lo, 2.5);
  EXPECT_EQ(c.hi, 2.5);
  EXPECT_TRUE(std::isnan(paired_bootstrap(at::tensor({1.0, NAN}, at::kDouble), 100, 0.95, 1).lo));
  EXPECT_THROW(paired_bootstrap(at::zeros({0}, at::kDouble), 100, 0.95, 1), RuntimeError);
  EXPECT_THROW(paired_bootstrap(x, 0, 0.95, 1), RuntimeError);
  EXPECT_THROW(paired_bootstrap(x, 10, 1.0, 1), RuntimeError);
}

}  // namespace
}  // namespace pqlab
