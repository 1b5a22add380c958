// Rotations (framework/quant/rotation.h) and transform chains: in full precision a rotated
// layer computes what the plain one does (rotation folded into the weight), random signs follow
// the seed, block layouts of ragged K, and the regular block's constant-preserving property.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <memory>

#include "framework/core/error.h"
#include "framework/quant/hadamard.h"
#include "framework/quant/input_transform.h"
#include "framework/quant/rotation.h"
#include "tests/common/error_text.h"

namespace pqlab {
namespace {

double rel(const at::Tensor& a, const at::Tensor& b) {
  return ((a.to(at::kDouble) - b.to(at::kDouble)).norm() / b.to(at::kDouble).norm()).item<double>();
}

// apply(x) fold(w)^T == x w^T, the contract every InputTransform keeps; rotations also keep norms.
void expect_invariant(const InputTransform& t, int64_t k, bool orthogonal = true) {
  const at::Tensor x = at::randn({9, k}), w = at::randn({5, k});
  EXPECT_LT(rel(at::matmul(t.apply(x), t.fold_weight(w).t()), at::matmul(x, w.t())), 1e-5) << t.describe();
  if (orthogonal) {  // braces: EXPECT_NEAR is an if/else of its own (-Wdangling-else)
    EXPECT_NEAR(t.apply(x).norm().item<double>(), x.norm().item<double>(), 1e-3 * x.norm().item<double>()) << t.describe();
  }
}

TEST(rotation, hadamard_rotation_is_orthogonal_and_seeded) {
  for (int64_t k : {128, 640, 3072}) {
    HadamardRotation r(k, 7, true, at::kCPU);
    expect_invariant(r, k);
    EXPECT_EQ(r.describe(), "hadamard " + hadamard_order(k).describe());
  }
  HadamardRotation a(256, 1, true, at::kCPU), b(256, 1, true, at::kCPU), c(256, 2, true, at::kCPU);
  EXPECT_TRUE(at::equal(a.signs(), b.signs()));
  EXPECT_FALSE(at::equal(a.signs(), c.signs()));
  EXPECT_TRUE(at::equal(a.signs().abs(), at::ones({256}, at::kDouble)));
  // Without signs it is the plain normalised Hadamard: a spike spreads evenly over all channels.
  HadamardRotation plain(256, 0, false, at::kCPU);
  at::Tensor spike = at::zeros({1, 256});
  spike[0][3] = 16;
  EXPECT_TRUE(at::allclose(plain.apply(spike).abs(), at::ones({1, 256})));
  EXPECT_EQ(test::message_of([] { HadamardRotation(52, 0, true, at::kCPU); }).substr(0, 34),
            "no Hadamard rotation of size 52: i");
}

TEST(rotation, block_rotation_layout_and_invariance) {
  BlockRotation r(640, 256, BlockHadamard::regular, at::kCPU);
  ASSERT_EQ(r.runs().size(), 2u);
  EXPECT_EQ(r.runs()[0].begin, 0);
  EXPECT_EQ(r.runs()[0].size, 256);
  EXPECT_EQ(r.runs()[0].count, 2);
  EXPECT_EQ(r.runs()[1].begin, 512);
  EXPECT_EQ(r.runs()[1].size, 64);
  EXPECT_EQ(r.runs()[1].count, 2);
  expect_invariant(r, 640);
  EXPECT_EQ(r.describe(), "regular block 256");
  // A ragged tail of 3 channels under block 4: one block of 4 per run, the rest left as is.
  BlockRotation t(11, 4, BlockHadamard::regular, at::kCPU);
  ASSERT_EQ(t.runs().size(), 1u);
  const at::Tensor x = at::randn({2, 11});
  EXPECT_TRUE(at::equal(t.apply(x).narrow(1, 8, 3), x.narrow(1, 8, 3)));
  expect_invariant(BlockRotation(96, 32, BlockHadamard::sylvester, at::kCPU), 96);
  EXPECT_EQ(test::message_of([] { BlockRotation(64, 32, BlockHadamard::regular, at::kCPU); }),
            "block rotation: block 32 is not a power of 4 (regular Hadamard: 4, 16, 64, 256, ...)");
}

TEST(rotation, regular_blocks_keep_a_constant_row_constant) {
  // ConvRot's point: a token with a large common offset stays spread out; a Sylvester block
  // turns it into a spike in each block's first channel.
  const at::Tensor c = at::full({1, 512}, 3.0);
  EXPECT_TRUE(at::allclose(BlockRotation(512, 256, BlockHadamard::regular, at::kCPU).apply(c), c));
  const at::Tensor s = BlockRotation(512, 256, BlockHadamard::sylvester, at::kCPU).apply(c);
  EXPECT_NEAR(s[0][0].item<double>(), 3.0 * 16, 1e-4);
  EXPECT_NEAR(s[0][1].item<double>(), 0.0, 1e-4);
}

TEST(rotation, chains_fold_in_order) {
  auto scale = std::make_shared<ChannelScale>(at::rand({128}) + 0.5);
  auto rot = std::make_shared<BlockRotation>(128, 64, BlockHadamard::regular, at::kCPU);
  auto gather = std::make_shared<ChannelGather>(at::randperm(128, at::kLong));
  auto chain = TransformChain::then(TransformChain::then(scale, rot), gather);
  expect_invariant(*chain, 128, false);
  EXPECT_EQ(chain->describe(), "scale+regular block 64+gather");
  EXPECT_EQ(dynamic_cast<const TransformChain&>(*chain).steps().size(), 3u);
  EXPECT_EQ(TransformChain::then(nullptr, rot), rot);
  // Not commutative: scaling after the rotation is another transform.
  const at::Tensor x = at::randn({4, 128});
  EXPECT_GT(rel(TransformChain::then(rot, scale)->apply(x), TransformChain::then(scale, rot)->apply(x)), 0.01);
}

}  // namespace
}  // namespace pqlab
