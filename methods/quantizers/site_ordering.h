// The `ordering` keys of methods whose sites transform their input online (smoothquant, quarot,
// convrot, svdquant): the channel ordering, the calibration bucket and reservoir rows it reads,
// and the call that applies it after the method's transform (framework/quant/site_reorder.h).
// Header-only, like quant_targets.h.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "framework/interfaces/method.h"
#include "framework/interfaces/ordering.h"
#include "framework/quant/site_reorder.h"
#include "framework/registry/registries.h"

namespace pqlab::methods {

struct SiteOrderingKeys {
  Plugin<Ordering> ordering{"identity", nullptr};
  int64_t ordering_bucket = -1;
  int64_t ordering_rows = 256;

  template <class IO> static void map(IO& io, SiteOrderingKeys& c) {
    config::plugin_field(io, "ordering", c.ordering,
                         "channel ordering of each layer's quantizer input, after the method's transform "
                         "(pqlab list ordering); identity = none");
    io.field("ordering_bucket", c.ordering_bucket,
             "calibration timestep bucket the ordering's statistics come from; -1 = pooled over every step",
             config::in_range(-1, 1e6));
    io.field("ordering_rows", c.ordering_rows,
             "calibration reservoir rows per layer the ordering reads when the transform is a rotation (its "
             "statistics are then measured on the rotated rows)",
             config::in_range(1, 1e7));
  }
  bool active() const { return !ordering->is_identity(); }
  /// What the ordering needs from calibration when the sites' transform is a rotation (rows) or
  /// a per-channel scale (the sums only).
  CalibrationNeeds needs(bool rotation) const {
    CalibrationNeeds n;
    if (!active() || !ordering->needs_statistics()) return n;
    n.statistics = true;
    if (rotation) n.keep_rows = ordering_rows;
    return n;
  }
  /// Orders one site's transformed input (segment: see transformed_channel_stats; seed: the
  /// ordering's, the site's index) and appends the decision and seconds to `report`.
  void apply(LinearSite& site, const Calibration* cal, uint64_t seed, int64_t segment, MethodReport& report) const {
    if (!active()) return;
    SiteOrderingOptions o;
    o.ordering = ordering.impl.get();
    o.ordering_name = ordering.name;
    o.bucket = ordering_bucket;
    o.segment = segment;
    report.permutations.push_back(reorder_site_input(site, cal, o, seed, report));
  }
};

inline CalibrationNeeds merged(CalibrationNeeds a, const CalibrationNeeds& b) {
  a.statistics = a.statistics || b.statistics;
  a.keep_rows = std::max(a.keep_rows, b.keep_rows);
  return a;
}

}  // namespace pqlab::methods
