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
  at::Tensor permutation(const ChannelStats& stats) const override { return at::arange(stats.k, at::kLong); }
  bool needs_statistics() const override { return false; }
  bool is_identity() const override { return true; }
};

}  // namespace pqlab::methods

PQLAB_PLUGIN(ordering, identity, pqlab::methods::Identity, "keep the original channel order (control)")
