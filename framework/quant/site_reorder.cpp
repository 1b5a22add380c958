#include "framework/quant/site_reorder.h"

#include <ATen/ATen.h>

#include <chrono>
#include <memory>

#include "framework/core/error.h"
#include "framework/experiment/calibration.h"
#include "framework/interfaces/model_adapter.h"
#include "framework/interfaces/ordering.h"
#include "framework/quant/input_transform.h"
#include "framework/quant/linear_site.h"
#include "framework/quant/reorder.h"

namespace pqlab {
namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

const std::vector<InputStats>& site_buckets(const Calibration& cal, const std::string& key) {
  const auto it = cal.stats.find(key);
  if (it == cal.stats.end()) throw RuntimeError("no calibration statistics for layer '" + key + "'");
  return it->second;
}

InputStats bucket_stats(const Calibration& cal, const std::string& key, int64_t bucket) {
  const auto& b = site_buckets(cal, key);
  if (bucket >= static_cast<int64_t>(b.size()))
    throw UsageError("calibration bucket " + std::to_string(bucket) + " does not exist (" + std::to_string(b.size()) +
                     " calibration buckets)");
  return bucket < 0 ? cal.pooled(key) : b[static_cast<size_t>(bucket)];
}

// What the site's quantizer sees of its full-precision input: the input map left by folds, then
// the site's own transform (either may be absent; null when both are).
std::shared_ptr<const InputTransform> quantizer_view(const LinearSite& site) {
  return TransformChain::then(site.state().input_map, site.state().input_transform);
}

// The per-channel divisor of a view made of ChannelScales only (their product), else undefined.
at::Tensor view_divisor(const InputTransform* t) {
  if (!t) return {};
  if (const auto* chain = dynamic_cast<const TransformChain*>(t)) {
    at::Tensor d;
    for (const auto& step : chain->steps()) {
      const at::Tensor s = step->channel_divisor();
      if (!s.defined()) return {};
      d = d.defined() ? d * s : s;
    }
    return d;
  }
  return t->channel_divisor();
}

}  // namespace

at::Tensor calibration_rows(const Calibration& cal, const std::string& key, int64_t bucket, const at::Device& device,
                            const std::string& what) {
  const at::Tensor rows = bucket_stats(cal, key, bucket).rows;
  if (!rows.defined() || rows.size(0) == 0)
    throw UsageError(what + " needs calibration input rows: set 'calibration.keep_rows' > 0");
  return rows.to(device, at::kFloat);
}

ChannelStats transformed_channel_stats(const LinearSite& site, const Calibration& cal, int64_t bucket, int64_t segment,
                                       uint64_t seed, bool need_rows) {
  ChannelStats s;
  s.k = site.in_features();
  s.seed = seed;
  if (segment > 0) {
    for (int64_t b = 0; b < s.k; b += segment) s.segments.push_back({b, std::min(s.k, b + segment)});
  }
  const at::Tensor w = site.weight().to(at::kDouble);
  s.weight_second_moment = w.pow(2).mean(0).cpu();
  s.weight_absmax = w.abs().amax(0).cpu();
  if (!need_rows) return s;
  const std::shared_ptr<const InputTransform> view = quantizer_view(site);
  const InputTransform* t = view.get();
  const at::Tensor divisor = view_divisor(t);
  if (!t || divisor.defined()) {
    const InputStats in = bucket_stats(cal, site.key(), bucket);
    if (in.count.item<double>() <= 0) throw RuntimeError("layer '" + site.key() + "': its calibration bucket saw no tokens");
    s.act_second_moment = (in.sumsq / in.count).cpu();
    s.act_absmax = in.absmax.cpu();
    if (divisor.defined()) {
      const at::Tensor d = divisor.to(at::kCPU, at::kDouble);
      s.act_second_moment = s.act_second_moment / d.pow(2);
      s.act_absmax = s.act_absmax / d;
    }
    return s;
  }
  const at::Tensor rows = calibration_rows(cal, site.key(), bucket, site.weight().device(),
                                           "an ordering after the rotation at '" + site.key() + "'");
  const at::Tensor tr = t->apply(rows).to(at::kDouble);
  s.act_second_moment = tr.pow(2).mean(0).cpu();
  s.act_absmax = tr.abs().amax(0).cpu();
  return s;
}

PermutationDecision reorder_site_input(LinearSite& site, const Calibration* cal, const SiteOrderingOptions& o,
                                       uint64_t seed, MethodReport& report) {
  if (!o.ordering) throw RuntimeError("reorder_site_input: no ordering");
  auto t0 = Clock::now();
  const bool stats = o.ordering->needs_statistics();
  if ((stats || o.acceptance) && !cal)
    throw UsageError("ordering '" + o.ordering_name + "' needs calibration statistics (calibration.samples > 0)");
  const ChannelStats cs = transformed_channel_stats(site, stats ? *cal : Calibration(), o.bucket, o.segment, seed, stats);
  PermutationDecision d;
  d.kind = "site_input";
  d.consumers = {site.key()};
  d.gather = true;
  d.permutation = o.ordering->permutation(cs).to(at::kCPU, at::kLong).contiguous();
  report.add_seconds("ordering", since(t0));
  if (o.acceptance) {
    t0 = Clock::now();
    at::Tensor rows = calibration_rows(*cal, site.key(), o.acceptance->bucket, site.weight().device(),
                                       "the acceptance rule at '" + site.key() + "'");
    if (const auto view = quantizer_view(site)) rows = view->apply(rows);
    const std::vector<at::Tensor> w = {site.weight()};
    d.error_orig = permutation_error(rows, w, at::Tensor(), *o.acceptance);
    d.error_perm = permutation_error(rows, w, d.permutation, *o.acceptance);
    // E_orig = 0 (nothing to gain) or NaN never accepts.
    d.accepted = d.error_orig > 0 && (d.error_orig - d.error_perm) / d.error_orig > o.acceptance->tau;
    report.add_seconds("acceptance", since(t0));
  } else {
    d.accepted = true;
  }
  if (d.accepted) {
    t0 = Clock::now();
    auto gather = std::make_shared<ChannelGather>(d.permutation);
    site.set_weight(gather->fold_weight(site.weight()));
    site.set_input_transform(TransformChain::then(site.state().input_transform, gather));
    report.add_seconds("absorption", since(t0));
  }
  return d;
}

MethodReport reorder_site_inputs(ModelAdapter& model, const Calibration* cal, const SiteOrderingOptions& o) {
  MethodReport report;
  const std::vector<LinearSite*> sites = model.linear_sites();
  for (size_t i = 0; i < sites.size(); ++i) {
    if (!o.selects(sites[i]->key())) continue;
    report.permutations.push_back(reorder_site_input(*sites[i], cal, o, i, report));
  }
  return report;
}

}  // namespace pqlab
