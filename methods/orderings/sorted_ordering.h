// What the sorting orderings share (act_second_moment, weight_second_moment, joint_second_moment,
// act_absmax): the sort direction key and the stable sort within the site's segments.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

#include "framework/config/config_io.h"
#include "framework/core/error.h"
#include "framework/interfaces/ordering.h"
#include "framework/quant/permutation.h"

namespace pqlab::methods {

struct SortDirection {
  std::string direction = "descending";
  template <class IO> static void map(IO& io, SortDirection& c) {
    io.field("direction", c.direction,
             "sort order of the score: descending (largest channels in the first group, as the paper's figure) or "
             "ascending; with groups that divide K only the grouping matters, so both give the same error",
             config::one_of({"descending", "ascending"}));
  }
};

/// The statistic `t` of `what`, checked: float64-able [K]. RuntimeError naming it when missing.
inline const at::Tensor& require_stat(const at::Tensor& t, const ChannelStats& s, const char* ordering,
                                      const char* what) {
  if (!t.defined()) throw RuntimeError(std::string(ordering) + " ordering needs " + what + " (calibration statistics)");
  if (t.dim() != 1 || t.size(0) != s.k)
    throw RuntimeError(std::string(ordering) + " ordering: " + what + " must have " + std::to_string(s.k) + " entries");
  return t;
}

/// Stable sort of score [K] within the stats' segments (all of [0, K) when there are none).
inline at::Tensor sorted_permutation(const at::Tensor& score, const ChannelStats& s, const SortDirection& d) {
  std::vector<ChannelSegment> segs = s.segments;
  if (segs.empty()) segs.push_back({0, s.k});
  return sort_within_segments(score, segs, d.direction == "descending");
}

}  // namespace pqlab::methods
