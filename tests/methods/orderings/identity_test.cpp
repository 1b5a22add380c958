// identity: the order the channels already have, whatever the statistics.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "tests/common/ordering_checks.h"

namespace pqlab {

TEST(identity, returns_arange_over_input_channels) {
  auto o = test::ordering("identity");
  ChannelStats s = test::synthetic_stats(7, 1);
  EXPECT_TRUE(at::equal(o->permutation(s), at::arange(7, at::kLong)));
  ChannelStats bare;
  bare.k = 3;
  EXPECT_TRUE(at::equal(o->permutation(bare), at::arange(3, at::kLong)));
}

}  // namespace pqlab
