// absorb_permutation and check_permutation on two linear layers: the index algebra of producer
// row blocks, consumer columns, groups and the gather path.
#include "framework/quant/permutation.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "framework/core/error.h"
#include "framework/quant/linear_site.h"

namespace pqlab {
namespace {

at::Tensor randn(std::vector<int64_t> shape, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::normal(0.0, 1.0, shape, gen, at::TensorOptions().dtype(at::kDouble));
}

// producer [10, 5] writes rows 2..9 into consumer columns 0..7 (rows 0, 1 go elsewhere).
struct TwoLayers {
  LinearSite producer{"p", "r", randn({10, 5}, 1), randn({10}, 2)};
  LinearSite consumer{"c", "r", randn({3, 8}, 3), randn({3}, 4)};
  std::map<std::string, LinearSite*> sites{{"p", &producer}, {"c", &consumer}};
  at::Tensor run(const at::Tensor& x) { return consumer.forward(at::gelu(producer.forward(x).narrow(-1, 2, 8))); }
};

PermutationSite site(int64_t group, bool gather = false) {
  return {"test", {"p"}, {"c"}, {{2, 0, 8, group}}, gather};
}

TEST(permutation, absorbed_into_producer_rows_and_consumer_columns_keeps_the_output) {
  TwoLayers m;
  const at::Tensor x = randn({4, 5}, 5), y = m.run(x);
  const at::Tensor p = at::tensor({3, 0, 1, 2, 7, 6, 5, 4}, at::kLong);
  absorb_permutation(site(4), p, m.sites);
  EXPECT_LT((m.run(x) - y).abs().max().item<double>(), 1e-12);
  // Rows outside the block stay; row 2 + j now holds what row 2 + p[j] held.
  TwoLayers ref;
  EXPECT_TRUE(at::equal(m.producer.weight()[0], ref.producer.weight()[0]));
  EXPECT_TRUE(at::equal(m.producer.weight()[2], ref.producer.weight()[5]));
  EXPECT_TRUE(at::equal(m.producer.bias()[2], ref.producer.bias()[5]));
  EXPECT_TRUE(at::equal(m.consumer.weight().select(1, 0), ref.consumer.weight().select(1, 3)));
}

TEST(permutation, gather_sites_leave_the_producer_and_transform_the_input) {
  TwoLayers m;
  const at::Tensor x = randn({4, 5}, 6), y = m.run(x);
  absorb_permutation(site(0, true), at::tensor({7, 6, 5, 4, 3, 2, 1, 0}, at::kLong), m.sites);
  EXPECT_NE(m.consumer.input_transform(), nullptr);
  TwoLayers ref;
  EXPECT_TRUE(at::equal(m.producer.weight(), ref.producer.weight()));
  EXPECT_LT((m.run(x) - y).abs().max().item<double>(), 1e-12);
}

TEST(permutation, only_permutations_inside_blocks_and_groups_are_accepted) {
  EXPECT_NO_THROW(check_permutation(site(4), at::tensor({1, 0, 2, 3, 4, 5, 7, 6}, at::kLong), 8));
  EXPECT_THROW(check_permutation(site(4), at::tensor({4, 1, 2, 3, 0, 5, 6, 7}, at::kLong), 8), UsageError);  // across groups
  EXPECT_THROW(check_permutation(site(0), at::tensor({0, 0, 2, 3, 4, 5, 6, 7}, at::kLong), 8), UsageError);  // not a permutation
  EXPECT_THROW(check_permutation(site(0), at::arange(7, at::kLong), 8), UsageError);                        // wrong length
  const PermutationSite half{"half", {"p"}, {"c"}, {{2, 0, 4, 0}}, false};
  EXPECT_THROW(check_permutation(half, at::tensor({0, 1, 2, 3, 5, 4, 6, 7}, at::kLong), 8), UsageError);  // outside the block
  // random_permutation respects the groups and is seeded.
  const at::Tensor r = random_permutation(site(4), 8, 9);
  EXPECT_NO_THROW(check_permutation(site(4), r, 8));
  EXPECT_TRUE(at::equal(r, random_permutation(site(4), 8, 9)));
  EXPECT_FALSE(at::equal(r, random_permutation(site(4), 8, 10)));
}

TEST(permutation, segments_sort_and_shuffle_within_blocks_and_groups) {
  // Two blocks share consumer columns 0..5 (shift and scale chunks): one set of segments for them.
  const PermutationSite two{"two", {"p"}, {"c"}, {{0, 0, 6, 3}, {6, 0, 6, 3}, {20, 8, 2, 0}}, false};
  const auto segs = permutation_segments(two, 12);
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_EQ(segs[0].begin, 0); EXPECT_EQ(segs[0].end, 3);
  EXPECT_EQ(segs[1].begin, 3); EXPECT_EQ(segs[1].end, 6);
  EXPECT_EQ(segs[2].begin, 8); EXPECT_EQ(segs[2].end, 10);
  EXPECT_THROW(permutation_segments(two, 9), UsageError);
  const at::Tensor score = at::tensor({1., 3., 2., 0., 5., 5., 9., 9., 1., 2., 7., 8.}, at::kDouble);
  const at::Tensor desc = sort_within_segments(score, segs, true);
  EXPECT_TRUE(at::equal(desc, at::tensor({1, 2, 0, 4, 5, 3, 6, 7, 9, 8, 10, 11}, at::kLong))) << desc;
  EXPECT_TRUE(at::equal(sort_within_segments(score, segs, false), at::tensor({0, 2, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11}, at::kLong)));
  EXPECT_NO_THROW(check_permutation(two, desc, 12));
  const at::Tensor shuffled = shuffle_within_segments(12, segs, 3);
  EXPECT_NO_THROW(check_permutation(two, shuffled, 12));
  EXPECT_TRUE(at::equal(shuffled, random_permutation(two, 12, 3)));
}

}  // namespace
}  // namespace pqlab
