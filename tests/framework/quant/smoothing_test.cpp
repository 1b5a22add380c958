// SmoothQuant scales and the layer-output error (framework/quant/smoothing.h) against their
// formulas, computed here by hand.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "framework/quant/smoothing.h"
#include "tests/common/plugins.h"
#include "framework/interfaces/number_format.h"

namespace pqlab {
namespace {

TEST(smoothing, scales_follow_the_formula_with_clamped_spans) {
  const at::Tensor x = at::tensor({4.0, 1.0, 0.0, 9.0}, at::kDouble), w = at::tensor({1.0, 4.0, 2.0, 0.0}, at::kDouble);
  const at::Tensor s = smoothing_scales(x, w, 0.5, 0.5);
  EXPECT_DOUBLE_EQ(s[0].item<double>(), 2.0);
  EXPECT_DOUBLE_EQ(s[1].item<double>(), 0.5);
  EXPECT_NEAR(s[2].item<double>(), std::sqrt(1e-5) / std::sqrt(2.0), 1e-15);  // dead channel: clamped, still > 0
  EXPECT_NEAR(s[3].item<double>(), 3.0 / std::sqrt(1e-5), 1e-6);
  const at::Tensor b0 = smoothing_scales(x, w, 0.5, 0);  // SVDQuant's beta = 0 candidates
  EXPECT_DOUBLE_EQ(b0[0].item<double>(), 2.0);
  EXPECT_DOUBLE_EQ(b0[3].item<double>(), 3.0);
  EXPECT_TRUE(at::equal(smoothing_scales(x, w, 0, 0), at::ones({4}, at::kDouble)));
}

TEST(smoothing, layer_output_error_is_the_formula) {
  at::manual_seed(3);
  const at::Tensor x = at::randn({6, 32}), w = at::randn({5, 32});
  const at::Tensor ref = at::matmul(x.to(at::kDouble), w.to(at::kDouble).t());
  EXPECT_NEAR(layer_output_error(ref, x, w, {}, {}, nullptr, nullptr), 0, 1e-9);
  auto int4 = test::make_plugin<NumberFormat>(test::builtin(), "{name: int, bits: 4, group_size: 16}");
  const at::Tensor a = at::randn({2, 32}, at::kDouble), b = at::randn({5, 2}, at::kDouble);
  const at::Tensor out = at::matmul(int4->fake_quant(x).to(at::kDouble), int4->fake_quant(w).to(at::kDouble).t()) +
                         at::matmul(at::matmul(x.to(at::kDouble), a.t()), b.t());
  EXPECT_NEAR(layer_output_error(ref, x, w, a, b, int4, int4), (ref - out).pow(2).sum().item<double>(), 1e-9);
  // The transformed input and the weight it sees keep the reference product.
  const at::Tensor s = at::rand({32}) + 0.5;
  EXPECT_NEAR(layer_output_error(ref, x / s, w * s, {}, {}, nullptr, nullptr), 0, 1e-6);
}

}  // namespace
}  // namespace pqlab
