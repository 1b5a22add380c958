// Channel orderings for methods whose sites rotate or scale their input online (quarot, convrot,
// smoothquant, svdquant, permuquant_h): the quantizer sees T(x), so the ordering must sort the
// channels of T(x) (methods.md 1.7, pitfall "sorting by statistics measured before smoothing or
// rotation"). The permutation P is applied after T, at each site's own input: T becomes
// T' = gather(P) o T and the weight columns take P. In deployment P is part of the online
// transform: free inside a block rotation's blocks (H P is again one dense block) and a gather in
// the quantize kernel otherwise. Sites whose consumers share an absorbed permutation are the
// business of reorder_sites (framework/quant/reorder.h) instead.
// Tests: tests/framework/quant/site_reorder_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>

#include "framework/interfaces/method.h"

namespace pqlab {

class LinearSite;
class ModelAdapter;
class Ordering;
struct AcceptanceRule;
struct Calibration;
struct ChannelStats;

/// The calibration reservoir rows of site `key` (bucket >= 0, or pooled over every bucket for -1),
/// float32 [R, K] on `device`, in the full-precision model's channel order. UsageError when the
/// run kept none (calibration.keep_rows = 0), naming what asked for them.
at::Tensor calibration_rows(const Calibration& cal, const std::string& key, int64_t bucket, const at::Device& device,
                            const std::string& what);

/// The statistics an ordering sorts by at `site`'s quantizer input T(M(x)), for the site's current
/// transform T, the input map M left by folds into its producers, and its (folded) weight: exact from the calibration sums when T is the identity or a
/// per-channel divisor (E[(x/s)^2] = E[x^2]/s^2, max|x/s| = max|x|/s); otherwise measured on
/// T(reservoir rows), so E[x^2] and max|x| are estimates from those rows. Weight moments come
/// from the site's current weight. segment > 0: the ordering may reorder within aligned runs of
/// `segment` channels only (a ragged tail forms its own segment); 0: all of K.
ChannelStats transformed_channel_stats(const LinearSite& site, const Calibration& cal, int64_t bucket, int64_t segment,
                                       uint64_t seed, bool need_rows);

struct SiteOrderingOptions {
  const Ordering* ordering = nullptr;
  std::string ordering_name;  ///< for messages
  int64_t bucket = -1;        ///< calibration bucket of the ordering's statistics; -1 = pooled
  int64_t segment = 0;        ///< see transformed_channel_stats
  /// PermuQuant's rule on T(x) rows and the folded weight (null: every proposal is applied).
  const AcceptanceRule* acceptance = nullptr;
  std::function<bool(const std::string&)> selects;
};

/// Orders the input of one site (seed: the ordering's), after the transform it has now: proposes,
/// tests with the acceptance rule when there is one, and composes the gather into the transform.
/// Adds its seconds to `report` ("ordering", "acceptance", "absorption") and returns the decision
/// (kind "site_input", consumers {key}, gather).
PermutationDecision reorder_site_input(LinearSite& site, const Calibration* cal, const SiteOrderingOptions& o,
                                       uint64_t seed, MethodReport& report);

/// Orders the input of every linear site `selects` picks, each on its own (site i seeds the
/// ordering with i), after the transform the site has now; returns one decision per site (kind
/// "site_input", consumers {key}) and seconds of "ordering", "acceptance", "absorption".
MethodReport reorder_site_inputs(ModelAdapter& model, const Calibration* cal, const SiteOrderingOptions& o);

}  // namespace pqlab
