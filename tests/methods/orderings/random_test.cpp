// random: a seeded shuffle that keeps the site's segments, the same for the same seeds and
// different for another key seed or another site.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "tests/common/ordering_checks.h"

namespace pqlab {

TEST(random, seeded_shuffle_within_segments) {
  ChannelStats s = test::synthetic_stats(96, 6);
  s.segments = {{0, 32}, {32, 64}};
  const at::Tensor a = test::ordering("random")->permutation(s);
  test::expect_keeps_segments(a, s);
  EXPECT_FALSE(at::equal(a.narrow(0, 0, 64), at::arange(64, at::kLong)));
  EXPECT_TRUE(at::equal(a.narrow(0, 64, 32), at::arange(64, 96, at::kLong)));
  EXPECT_TRUE(at::equal(a, test::ordering("random")->permutation(s)));
  EXPECT_FALSE(at::equal(a, test::ordering("{name: random, seed: 1}")->permutation(s)));
  ChannelStats other = s;
  other.seed = s.seed + 1;
  EXPECT_FALSE(at::equal(a, test::ordering("random")->permutation(other)));
}

}  // namespace pqlab
