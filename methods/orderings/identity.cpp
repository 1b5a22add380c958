// identity: keeps the channel order. The no-permutation control every PermuQuant run is paired with.
// Tests: tests/methods/orderings/identity_test.cpp
#include <ATen/ATen.h>

#include "framework/registry/registries.h"

namespace pqlab::methods {

struct IdentityConfig {
  template <class IO> static void map(IO&, IdentityConfig&) {}
};

class Identity final : public ConfiguredPlugin<Ordering, IdentityConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override { return "identity"; }
  at::Tensor permutation(const ChannelStats& stats) const override {
    const at::Tensor& ref = stats.weight.defined() ? stats.weight : stats.act_second_moment;
    const int64_t k = stats.weight.defined() ? stats.weight.size(1) : ref.size(0);
    return at::arange(k, at::TensorOptions().dtype(at::kLong));
  }
};

}  // namespace pqlab::methods

PQLAB_PLUGIN(ordering, identity, pqlab::methods::Identity, "keep the original channel order (control)")
