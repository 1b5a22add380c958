// Input transforms and the low-rank branch of LinearSite: with quantization off, a transform whose
// inverse is folded into the weight changes the output only by round-off.
#include "framework/quant/input_transform.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "framework/core/error.h"
#include "framework/quant/linear_site.h"

namespace pqlab {
namespace {

at::Tensor randn(std::vector<int64_t> shape, uint64_t seed, at::ScalarType dt = at::kDouble) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::normal(0.0, 1.0, shape, gen, at::TensorOptions().dtype(dt));
}

TEST(input_transform, gather_folded_into_the_weight_is_exact) {
  const at::Tensor x = randn({3, 5, 16}, 1), w = randn({8, 16}, 2), b = randn({8}, 3);
  auto gen = at::detail::createCPUGenerator(4);
  const at::Tensor perm = at::randperm(16, gen, at::TensorOptions().dtype(at::kLong));
  auto g = std::make_shared<ChannelGather>(perm);
  // Output channel k of the transform is input channel perm[k].
  EXPECT_TRUE(at::equal(g->apply(x).select(-1, 5), x.select(-1, perm[5].item<int64_t>())));
  LinearSite plain("s", "r", w, b), moved("s", "r", g->fold_weight(w), b);
  moved.set_input_transform(g);
  // A permutation only reorders the products of each dot product: float64 sums of 16 terms in
  // another order agree to a few ulps.
  EXPECT_LT((plain.compute(x) - moved.compute(x)).abs().max().item<double>(), 1e-13);
  EXPECT_THROW(ChannelGather(at::tensor({0, 0, 1}, at::kLong)), UsageError);
  EXPECT_THROW(ChannelGather(at::tensor({0, 1, 3}, at::kLong)), UsageError);
}

TEST(input_transform, scale_folded_into_the_weight_is_exact_to_round_off) {
  const at::Tensor x = randn({4, 32}, 5, at::kFloat), w = randn({6, 32}, 6, at::kFloat);
  const at::Tensor s = at::exp(randn({32}, 7, at::kFloat));
  auto t = std::make_shared<ChannelScale>(s);
  EXPECT_TRUE(at::allclose(t->apply(x), x / s));
  LinearSite plain("s", "r", w, at::Tensor()), smoothed("s", "r", t->fold_weight(w), at::Tensor());
  smoothed.set_input_transform(t);
  const at::Tensor y = plain.compute(x);
  const double rel = (y - smoothed.compute(x)).abs().max().item<double>() / y.abs().max().item<double>();
  EXPECT_LT(rel, 1e-6);  // float32: a division and a multiplication per term
  EXPECT_GT(rel, 0.0);   // not the identity in disguise
  EXPECT_THROW(ChannelScale(at::tensor({1.0, 0.0})), UsageError);
  EXPECT_THROW(ChannelScale(at::tensor({1.0, std::nan("")})), UsageError);
}

TEST(input_transform, low_rank_branch_adds_to_the_output_and_the_tap_sees_the_raw_input) {
  const at::Tensor x = randn({2, 3, 12}, 8), w = randn({5, 12}, 9);
  const at::Tensor a = randn({2, 12}, 10), bb = randn({5, 2}, 11);
  auto perm = at::tensor({1, 0, 2, 3, 4, 5, 6, 7, 8, 9, 11, 10}, at::kLong);
  auto g = std::make_shared<ChannelGather>(perm);
  LinearSite site("s", "r", w, at::Tensor());
  site.set_input_transform(g);
  site.set_low_rank(a, bb);
  const at::Tensor xt = g->apply(x);
  EXPECT_TRUE(at::allclose(site.compute(x), at::matmul(xt, w.t()) + at::matmul(at::matmul(xt, a.t()), bb.t()),
                           1e-12, 1e-12));
  at::Tensor seen_in, seen_out;
  site.set_tap([&](const LinearSite&, const at::Tensor& in, const at::Tensor& out) {
    seen_in = in;
    seen_out = out;
  });
  const at::Tensor y = site.forward(x);
  EXPECT_TRUE(at::equal(seen_in, x));
  EXPECT_TRUE(at::equal(seen_out, y));
  EXPECT_THROW(site.set_low_rank(a, at::Tensor()), RuntimeError);
  EXPECT_THROW(site.set_low_rank(randn({2, 11}, 12), bb), RuntimeError);
  site.set_low_rank({}, {});
  EXPECT_TRUE(at::allclose(site.compute(x), at::matmul(xt, w.t()), 1e-12, 1e-12));
}

}  // namespace
}  // namespace pqlab
