// joint_second_moment: alpha = 1 and 0 reproduce the activation-only and weight-only orders;
// alpha = 1/2 sorts by E[x^2] * mean W^2; log space survives moments of 1e-300 and exact zeros;
// sorting never raises the sum of group maxima of the score (the bound of methods.md 1.3 b) and
// lowers it on spread-out synthetic values.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "tests/common/ordering_checks.h"

namespace pqlab {

TEST(joint_second_moment, alpha_interpolates_between_the_two_moments) {
  const ChannelStats s = test::synthetic_stats(64, 4);
  const auto p = [&](const std::string& yaml) { return test::ordering(yaml)->permutation(s); };
  EXPECT_TRUE(at::equal(p("{name: joint_second_moment, alpha: 1}"), test::ordering("act_second_moment")->permutation(s)));
  EXPECT_TRUE(at::equal(p("{name: joint_second_moment, alpha: 0}"), test::ordering("weight_second_moment")->permutation(s)));
  const at::Tensor half = p("joint_second_moment");
  EXPECT_TRUE(test::sorted_within(s.act_second_moment * s.weight_second_moment, half, s, true));
  EXPECT_EQ(test::ordering("joint_second_moment")->describe(), "joint_second_moment alpha=0.5 descending");
}

TEST(joint_second_moment, log_space_takes_tiny_and_zero_moments) {
  ChannelStats s = test::synthetic_stats(4, 5);
  s.act_second_moment = at::tensor({1e-300, 0.0, 1e300, 1.0}, at::kDouble);
  s.weight_second_moment = at::tensor({1e-300, 0.0, 1e-300, 1.0}, at::kDouble);
  // log v = (log(a + eps) + log(w + eps)) / 2 with eps 1e-12: channel 2 (+332), 3 (0), then 0 and 1
  // tie at log(1e-12) and keep their order.
  const at::Tensor p = test::ordering("joint_second_moment")->permutation(s);
  test::expect_keeps_segments(p, s);
  EXPECT_TRUE(at::equal(p, at::tensor({2, 3, 0, 1}, at::kLong))) << p;
}

TEST(joint_second_moment, sorting_never_raises_the_sum_of_group_maxima) {
  for (uint64_t seed = 0; seed < 50; ++seed) {
    const ChannelStats s = test::synthetic_stats(128, 100 + seed);
    const at::Tensor v = s.act_second_moment.sqrt() * s.weight_second_moment.sqrt();
    const at::Tensor p = test::ordering("joint_second_moment")->permutation(s);
    const auto group_max_sum = [&](const at::Tensor& x, int64_t g) { return x.view({-1, g}).amax(1).sum().item<double>(); };
    for (const int64_t g : {8, 16, 32}) {
      const double sorted = group_max_sum(v.index_select(0, p), g), identity = group_max_sum(v, g);
      EXPECT_LE(sorted, identity) << "seed " << seed << " group " << g;
      EXPECT_LT(sorted, 0.9 * identity) << "seed " << seed << " group " << g;
      // Any other order is no better (here: 20 random shuffles).
      for (int r = 0; r < 20; ++r)
        EXPECT_LE(sorted, group_max_sum(v.index_select(0, at::randperm(128, at::kLong)), g));
    }
  }
}

}  // namespace pqlab
