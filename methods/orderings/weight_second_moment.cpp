// weight_second_moment: sorts the channels by mean over output rows of W[:, k]^2, pooled over every consumer that shares the permutation; a stable sort within the site's
// segments (per head where the site has heads), direction a key. One of the single-statistic
// ablations of PermuQuant's joint criterion (joint_second_moment).
// Tests: tests/methods/orderings/weight_second_moment_test.cpp
#include <ATen/ATen.h>

#include "framework/registry/registries.h"
#include "methods/orderings/sorted_ordering.h"

namespace pqlab::methods {

class WeightSecondMoment final : public ConfiguredPlugin<Ordering, SortDirection> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override { return "weight_second_moment " + cfg_.direction; }
  at::Tensor permutation(const ChannelStats& s) const override {
    return sorted_permutation(require_stat(s.weight_second_moment, s, "weight_second_moment", "the weight second moment mean_o W^2"), s, cfg_);
  }
};

}  // namespace pqlab::methods

PQLAB_PLUGIN(ordering, weight_second_moment, pqlab::methods::WeightSecondMoment, "sort channels by the weight second moment mean_o W^2 over all consumers")
