// random: a seeded uniform shuffle within the site's segments: the second control of PermuQuant
// (does sorting beat any reordering?). The permutation depends on the key `seed` and on the site
// (ChannelStats::seed), and on nothing else.
// Tests: tests/methods/orderings/random_test.cpp
#include <ATen/ATen.h>

#include "framework/quant/permutation.h"
#include "framework/registry/registries.h"

namespace pqlab::methods {

struct RandomConfig {
  int64_t seed = 0;
  template <class IO> static void map(IO& io, RandomConfig& c) {
    io.field("seed", c.seed, "seed of the shuffle, mixed with the site's own seed", config::in_range(0, 9.0e15));
  }
};

class Random final : public ConfiguredPlugin<Ordering, RandomConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override { return "random seed " + std::to_string(cfg_.seed); }
  bool needs_statistics() const override { return false; }
  at::Tensor permutation(const ChannelStats& s) const override {
    std::vector<ChannelSegment> segs = s.segments;
    if (segs.empty()) segs.push_back({0, s.k});
    // splitmix64 of the pair, so that nearby seeds give unrelated shuffles.
    uint64_t x = s.seed ^ (static_cast<uint64_t>(cfg_.seed) * 0x9e3779b97f4a7c15ULL);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return shuffle_within_segments(s.k, segs, x ^ (x >> 31));
  }
};

}  // namespace pqlab::methods

PQLAB_PLUGIN(ordering, random, pqlab::methods::Random, "a seeded random shuffle of the channels (second control)")
