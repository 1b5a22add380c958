// act_second_moment: sorts the channels by E[x_k^2], the activation second moment over calibration tokens; a stable sort within the site's
// segments (per head where the site has heads), direction a key. One of the single-statistic
// ablations of PermuQuant's joint criterion (joint_second_moment).
// Tests: tests/methods/orderings/act_second_moment_test.cpp
#include <ATen/ATen.h>

#include "framework/registry/registries.h"
#include "methods/orderings/sorted_ordering.h"

namespace pqlab::methods {

class ActSecondMoment final : public ConfiguredPlugin<Ordering, SortDirection> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override { return "act_second_moment " + cfg_.direction; }
  at::Tensor permutation(const ChannelStats& s) const override {
    return sorted_permutation(require_stat(s.act_second_moment, s, "act_second_moment", "the activation second moment E[x^2]"), s, cfg_);
  }
};

}  // namespace pqlab::methods

PQLAB_PLUGIN(ordering, act_second_moment, pqlab::methods::ActSecondMoment, "sort channels by the activation second moment E[x^2] (calibration)")
