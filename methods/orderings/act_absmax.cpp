// act_absmax: sorts the channels by max |x_k| over calibration tokens (the statistic a group scale actually sees); a stable sort within the site's
// segments (per head where the site has heads), direction a key. One of the single-statistic
// ablations of PermuQuant's joint criterion (joint_second_moment).
// Tests: tests/methods/orderings/act_absmax_test.cpp
#include <ATen/ATen.h>

#include "framework/registry/registries.h"
#include "methods/orderings/sorted_ordering.h"

namespace pqlab::methods {

class ActAbsmax final : public ConfiguredPlugin<Ordering, SortDirection> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override { return "act_absmax " + cfg_.direction; }
  at::Tensor permutation(const ChannelStats& s) const override {
    return sorted_permutation(require_stat(s.act_absmax, s, "act_absmax", "the activation absmax"), s, cfg_);
  }
};

}  // namespace pqlab::methods

PQLAB_PLUGIN(ordering, act_absmax, pqlab::methods::ActAbsmax, "sort channels by the activation absmax max|x| (calibration)")
