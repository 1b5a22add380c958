#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "tests/common/plugins.h"

namespace pqlab {

TEST(identity, returns_arange_over_input_channels) {
  auto o = test::make_plugin<Ordering>(test::builtin(), "identity");
  ChannelStats s;
  s.weight = at::randn({5, 7});
  const at::Tensor p = o->permutation(s);
  EXPECT_EQ(p.scalar_type(), at::kLong);
  EXPECT_TRUE(at::equal(p, at::arange(7, at::kLong)));
  ChannelStats only_acts;
  only_acts.act_second_moment = at::ones({3}, at::kDouble);
  EXPECT_TRUE(at::equal(o->permutation(only_acts), at::arange(3, at::kLong)));
}

}  // namespace pqlab
