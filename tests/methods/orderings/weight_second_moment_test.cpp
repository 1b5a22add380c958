// weight_second_moment: a stable sort of weight_second_moment within the site's segments, both directions; a missing statistic
// is an error naming it.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "framework/core/error.h"
#include "tests/common/ordering_checks.h"

namespace pqlab {

TEST(weight_second_moment, sorts_by_its_statistic_within_segments) {
  ChannelStats s = test::synthetic_stats(40, 2);
  s.segments = {{0, 16}, {16, 32}};  // channels 32..39 stay
  const at::Tensor desc = test::ordering("weight_second_moment")->permutation(s);
  test::expect_keeps_segments(desc, s);
  EXPECT_TRUE(test::sorted_within(s.weight_second_moment, desc, s, true));
  EXPECT_TRUE(at::equal(desc.narrow(0, 32, 8), at::arange(32, 40, at::kLong)));
  const at::Tensor asc = test::ordering("{name: weight_second_moment, direction: ascending}")->permutation(s);
  test::expect_keeps_segments(asc, s);
  EXPECT_TRUE(test::sorted_within(s.weight_second_moment, asc, s, false));
  EXPECT_FALSE(at::equal(asc, desc));
}

TEST(weight_second_moment, ties_keep_their_order_and_missing_statistics_are_errors) {
  ChannelStats s = test::synthetic_stats(6, 3);
  s.weight_second_moment = at::tensor({1.0, 2.0, 1.0, 2.0, 1.0, 2.0}, at::kDouble);
  EXPECT_TRUE(at::equal(test::ordering("weight_second_moment")->permutation(s), at::tensor({1, 3, 5, 0, 2, 4}, at::kLong)));
  s.weight_second_moment = at::Tensor();
  try {
    test::ordering("weight_second_moment")->permutation(s);
    FAIL() << "expected an error";
  } catch (const RuntimeError& e) {
    EXPECT_STREQ(e.what(), "weight_second_moment ordering needs the weight second moment mean_o W^2 (calibration statistics)");
  }
}

}  // namespace pqlab
