// Shared checks of channel orderings (tests/methods/orderings/): building one, the statistics of
// a synthetic site, and that a permutation keeps the site's segments.
#pragma once
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "framework/interfaces/ordering.h"
#include "tests/common/plugins.h"

namespace pqlab::test {

inline std::shared_ptr<Ordering> ordering(const std::string& yaml) { return make_plugin<Ordering>(builtin(), yaml); }

/// Channel statistics of k channels: every statistic a positive float64 [k] drawn from `seed`,
/// with channel scales spread over several orders of magnitude.
inline ChannelStats synthetic_stats(int64_t k, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto draw = [&] { return at::exp(at::randn({k}, gen, at::TensorOptions().dtype(at::kDouble)) * 2.0); };
  ChannelStats s;
  s.k = k;
  s.act_second_moment = draw();
  s.act_absmax = draw();
  s.weight_second_moment = draw();
  s.weight_absmax = draw();
  s.seed = seed;
  return s;
}

/// p is a permutation of 0..k-1 that maps each segment onto itself and fixes everything else.
inline void expect_keeps_segments(const at::Tensor& p, const ChannelStats& s) {
  ASSERT_EQ(p.scalar_type(), at::kLong);
  ASSERT_EQ(p.numel(), s.k);
  EXPECT_TRUE(at::equal(std::get<0>(at::sort(p)), at::arange(s.k, at::kLong))) << "not a permutation";
  std::vector<int64_t> seg_of(static_cast<size_t>(s.k), -1);
  for (size_t i = 0; i < s.segments.size(); ++i)
    for (int64_t j = s.segments[i].begin; j < s.segments[i].end; ++j) seg_of[static_cast<size_t>(j)] = static_cast<int64_t>(i);
  for (int64_t j = 0; j < s.k; ++j) {
    const int64_t src = p[j].item<int64_t>();
    if (s.segments.empty()) continue;
    if (seg_of[static_cast<size_t>(j)] < 0)
      EXPECT_EQ(src, j) << "channel " << j << " is outside every segment but moved";
    else
      EXPECT_EQ(seg_of[static_cast<size_t>(src)], seg_of[static_cast<size_t>(j)]) << "channel " << j << " left its segment";
  }
}

/// Whether score[p] is ordered (descending or ascending) within every segment (all of [0, k) if none).
inline bool sorted_within(const at::Tensor& score, const at::Tensor& p, const ChannelStats& s, bool descending) {
  std::vector<ChannelSegment> segs = s.segments;
  if (segs.empty()) segs.push_back({0, s.k});
  const at::Tensor v = score.index_select(0, p);
  for (const auto& g : segs)
    for (int64_t j = g.begin + 1; j < g.end; ++j) {
      const double a = v[j - 1].item<double>(), b = v[j].item<double>();
      if (descending ? a < b : a > b) return false;
    }
  return true;
}

}  // namespace pqlab::test
