#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "tests/common/plugins.h"

namespace pqlab {

TEST(rel_mse, matches_hand_computed_value) {
  auto m = test::make_plugin<Metric>(test::builtin(), "rel_mse");
  const at::Tensor r = at::tensor({3.0f, 4.0f});  // ||r||^2 = 25
  const at::Tensor t = at::tensor({3.0f, 5.0f});  // error^2 = 1
  EXPECT_DOUBLE_EQ(m->compute(r, t), 1.0 / 25.0);
  EXPECT_DOUBLE_EQ(m->compute(r, r), 0.0);
  EXPECT_FALSE(m->higher_is_better());
}

TEST(rel_mse, zero_reference_is_nan_and_shapes_must_match) {
  auto m = test::make_plugin<Metric>(test::builtin(), "rel_mse");
  EXPECT_TRUE(std::isnan(m->compute(at::zeros({4}), at::ones({4}))));
  EXPECT_THROW(m->compute(at::zeros({4}), at::ones({5})), RuntimeError);
}

TEST(rel_mse, computes_in_double_for_bf16_inputs) {
  auto m = test::make_plugin<Metric>(test::builtin(), "rel_mse");
  const at::Tensor r = at::full({1000}, 1.0f).to(at::kBFloat16);
  const at::Tensor t = at::full({1000}, 1.0078125f).to(at::kBFloat16);  // one bf16 ulp above 1
  EXPECT_DOUBLE_EQ(m->compute(r, t), 0.0078125 * 0.0078125);
}

}  // namespace pqlab
