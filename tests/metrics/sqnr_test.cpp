#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "tests/common/plugins.h"

namespace pqlab {

TEST(sqnr, matches_hand_computed_value) {
  auto m = test::make_plugin<Metric>(test::builtin(), "sqnr");
  const at::Tensor r = at::tensor({3.0f, 4.0f});
  const at::Tensor t = at::tensor({3.0f, 4.25f});  // noise 1/16, signal 25 -> 400
  EXPECT_NEAR(m->compute(r, t), 10.0 * std::log10(400.0), 1e-12);
  EXPECT_TRUE(m->higher_is_better());
}

TEST(sqnr, exact_match_is_infinite_and_zero_signal_is_nan) {
  auto m = test::make_plugin<Metric>(test::builtin(), "sqnr");
  EXPECT_TRUE(std::isinf(m->compute(at::ones({3}), at::ones({3}))));
  EXPECT_TRUE(std::isnan(m->compute(at::zeros({3}), at::ones({3}))));
}

}  // namespace pqlab
