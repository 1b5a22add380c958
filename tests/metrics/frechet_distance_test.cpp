#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "tests/common/plugins.h"

namespace pqlab {

TEST(frechet_distance, identical_sets_are_zero) {
  auto m = test::make_plugin<Metric>(test::builtin(), "frechet_distance");
  at::manual_seed(1);
  const at::Tensor x = at::randn({200, 8}, at::kDouble);
  EXPECT_NEAR(m->compute(x, x), 0.0, 1e-9);
  EXPECT_FALSE(m->higher_is_better());
}

TEST(frechet_distance, translation_gives_squared_norm) {
  auto m = test::make_plugin<Metric>(test::builtin(), "frechet_distance");
  at::manual_seed(2);
  const at::Tensor x = at::randn({300, 5}, at::kDouble).mm(at::randn({5, 5}, at::kDouble));  // correlated
  const at::Tensor v = at::tensor({1.0, -2.0, 0.5, 3.0, 0.0}, at::kDouble);  // ||v||^2 = 14.25
  EXPECT_NEAR(m->compute(x, x + v), 14.25, 1e-9);
  EXPECT_NEAR(m->compute(x + v, x), 14.25, 1e-9);
}

TEST(frechet_distance, matches_closed_form_for_diagonal_gaussians) {
  auto m = test::make_plugin<Metric>(test::builtin(), "frechet_distance");
  at::manual_seed(3);
  const at::Tensor mu1 = at::tensor({0.0, 1.0, -1.0, 2.0}, at::kDouble);
  const at::Tensor mu2 = at::tensor({0.5, 1.0, 1.0, 2.0}, at::kDouble);
  const at::Tensor sd1 = at::tensor({1.0, 2.0, 0.5, 1.0}, at::kDouble);
  const at::Tensor sd2 = at::tensor({1.0, 1.0, 1.5, 3.0}, at::kDouble);
  const int64_t n = 200000;
  const at::Tensor a = at::randn({n, 4}, at::kDouble) * sd1 + mu1;
  const at::Tensor b = at::randn({n, 4}, at::kDouble) * sd2 + mu2;
  // sum (mu1-mu2)^2 + sum (s1 + s2 - 2 sqrt(s1 s2)) with variances s = sd^2:
  // means: 0.25 + 0 + 4 + 0 = 4.25; covariances: sum (sd1 - sd2)^2 = 0 + 1 + 1 + 4 = 6
  const double expected = 4.25 + 6.0;
  EXPECT_NEAR(m->compute(a, b), expected, 0.05 * expected);

  // Against the same formula on the samples' own moments (off-diagonal covariances ~0): tighter.
  const at::Tensor s1 = a.var(0), s2 = b.var(0);
  const double sample_closed = (a.mean(0) - b.mean(0)).pow(2).sum().item<double>() +
                               (s1 + s2 - 2 * (s1 * s2).sqrt()).sum().item<double>();
  EXPECT_NEAR(m->compute(a, b), sample_closed, 2e-3);
}

TEST(frechet_distance, different_set_sizes_and_errors) {
  auto m = test::make_plugin<Metric>(test::builtin(), "frechet_distance");
  // 1-D: sets {0, 2} (mean 1, var 2) and {0, 0, 3} (mean 1, var 3): (sqrt(2) - sqrt(3))^2.
  const double d = m->compute(at::tensor({0.0, 2.0}, at::kDouble).view({2, 1}),
                              at::tensor({0.0, 0.0, 3.0}, at::kDouble).view({3, 1}));
  EXPECT_NEAR(d, std::pow(std::sqrt(2.0) - std::sqrt(3.0), 2), 1e-12);
  EXPECT_THROW(m->compute(at::zeros({1, 3}), at::zeros({5, 3})), RuntimeError);  // N < 2
  EXPECT_THROW(m->compute(at::zeros({5, 3}), at::zeros({5, 4})), RuntimeError);  // D differs
  EXPECT_THROW(m->compute(at::zeros({5, 0}), at::zeros({5, 0})), RuntimeError);  // D = 0
  EXPECT_THROW(m->compute(at::zeros({5}), at::zeros({5})), RuntimeError);        // not [N, D]
}

}  // namespace pqlab
