#include "framework/quant/reorder.h"

#include <ATen/ATen.h>

#include <chrono>
#include <map>

#include "framework/core/error.h"
#include "framework/experiment/calibration.h"
#include "framework/interfaces/model_adapter.h"
#include "framework/interfaces/number_format.h"
#include "framework/interfaces/ordering.h"
#include "framework/quant/input_transform.h"
#include "framework/quant/linear_site.h"
#include "framework/quant/permutation.h"

namespace pqlab {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

at::Tensor permuted_columns(const at::Tensor& t, const at::Tensor& perm) {
  return perm.defined() ? t.index_select(1, perm.to(t.device())) : t;
}

// The reservoir rows of a site's input in the consumers' current column order, float32 on the
// device of the consumers' weights.
at::Tensor site_rows(const Calibration& cal, const PermutationSite& site, const LinearSite& first, int64_t bucket) {
  const auto it = cal.stats.find(first.key());
  if (it == cal.stats.end())
    throw RuntimeError("permutation site '" + site.kind + "': no calibration statistics for '" + first.key() + "'");
  if (bucket >= static_cast<int64_t>(it->second.size()))
    throw UsageError("acceptance bucket " + std::to_string(bucket) + " does not exist (" +
                     std::to_string(it->second.size()) + " calibration buckets)");
  const at::Tensor rows = bucket < 0 ? cal.pooled(first.key()).rows : it->second[static_cast<size_t>(bucket)].rows;
  if (!rows.defined() || rows.size(0) == 0)
    throw UsageError("the acceptance rule needs calibration input rows: set 'calibration.keep_rows' > 0");
  const at::Tensor& order = first.state().column_order;
  return permuted_columns(rows.to(first.weight().device(), at::kFloat), order);
}

}  // namespace

const char* accept_error_name(AcceptError e) {
  switch (e) {
    case AcceptError::layer_output: return "layer_output";
    case AcceptError::weight: return "weight";
    case AcceptError::activation: return "activation";
  }
  return "?";
}

double permutation_error(const at::Tensor& rows, const std::vector<at::Tensor>& weights, const at::Tensor& perm,
                         const AcceptanceRule& rule) {
  const bool needs_w = rule.error != AcceptError::activation;
  if (needs_w && !rule.weight_format) throw UsageError("the acceptance error needs a weight format");
  if (rule.error == AcceptError::activation && !rule.act_format)
    throw UsageError("accept_error 'activation' needs an activation format (act_format)");
  at::Tensor x = permuted_columns(rows.to(at::kFloat), perm);
  std::shared_ptr<const InputTransform> then;
  if (rule.then_transform) {
    then = rule.then_transform(x.size(-1));
    x = then->apply(x);
  }
  at::Tensor qx;
  if (rule.error != AcceptError::weight) qx = rule.act_format ? rule.act_format->fake_quant(x) : x;
  if (rule.error == AcceptError::activation)
    return (qx.to(at::kDouble) - x.to(at::kDouble)).pow(2).sum().item<double>();
  double e = 0;
  for (const at::Tensor& w0 : weights) {
    at::Tensor w = permuted_columns(w0.to(at::kFloat), perm);
    if (then) w = then->fold_weight(w);
    const at::Tensor qw = rule.weight_format->fake_quant(w).to(at::kDouble);
    if (rule.error == AcceptError::weight) {
      e += (qw - w.to(at::kDouble)).pow(2).sum().item<double>();
      continue;
    }
    // X P (W P)^T = X W^T exactly in real arithmetic, so the reference does not depend on P.
    const at::Tensor ref = at::matmul(x.to(at::kDouble), w.to(at::kDouble).t());
    e += (ref - at::matmul(qx.to(at::kDouble), qw.t())).pow(2).sum().item<double>();
  }
  return e;
}

MethodReport reorder_sites(ModelAdapter& model, const Calibration* calibration, const ReorderOptions& opts) {
  if (!opts.ordering) throw RuntimeError("reorder_sites: no ordering");
  std::map<std::string, LinearSite*> by_key;
  for (LinearSite* s : model.linear_sites()) by_key[s->key()] = s;
  const std::vector<PermutationSite> sites = model.permutation_sites();
  double t_order = 0, t_accept = 0, t_absorb = 0;
  MethodReport report;
  for (size_t i = 0; i < sites.size(); ++i) {
    const PermutationSite& site = sites[i];
    bool all = !site.consumers.empty();
    for (const std::string& c : site.consumers) all = all && by_key.count(c) && opts.selects(c);
    if (!all) continue;
    LinearSite& first = *by_key.at(site.consumers[0]);

    auto t = Clock::now();
    ChannelStats stats;
    if (opts.ordering->needs_statistics()) {
      if (!calibration)
        throw UsageError("ordering '" + opts.ordering_name + "' needs calibration statistics");
      stats = site_channel_stats(*calibration, site, by_key, opts.bucket, i);
    } else {
      stats.k = first.in_features();
      stats.segments = permutation_segments(site, stats.k);
      stats.seed = i;
    }
    PermutationDecision d;
    d.kind = site.kind;
    d.consumers = site.consumers;
    d.gather = site.needs_gather;
    d.permutation = opts.ordering->permutation(stats).to(at::kCPU, at::kLong).contiguous();
    t_order += since(t);

    if (opts.acceptance) {
      t = Clock::now();
      if (!calibration) throw UsageError("the acceptance rule needs calibration input rows (calibration.samples > 0)");
      const at::Tensor rows = site_rows(*calibration, site, first, opts.acceptance->bucket);
      std::vector<at::Tensor> weights;
      for (const std::string& c : site.consumers) weights.push_back(by_key.at(c)->weight());
      d.error_orig = permutation_error(rows, weights, at::Tensor(), *opts.acceptance);
      d.error_perm = permutation_error(rows, weights, d.permutation, *opts.acceptance);
      // E_orig = 0 (nothing to gain) or NaN never accepts.
      d.accepted = d.error_orig > 0 && (d.error_orig - d.error_perm) / d.error_orig > opts.acceptance->tau;
      t_accept += since(t);
    } else {
      d.accepted = true;
    }
    if (d.accepted) {
      t = Clock::now();
      absorb_permutation(site, d.permutation, by_key);
      t_absorb += since(t);
    }
    report.permutations.push_back(std::move(d));
  }
  report.seconds = {{"ordering", t_order}, {"acceptance", t_accept}, {"absorption", t_absorb}};
  return report;
}

void quantize_site(LinearSite& site, const std::shared_ptr<const NumberFormat>& weight_format,
                   const std::shared_ptr<const NumberFormat>& act_format) {
  site.quantize_weight(weight_format);
  site.set_act_format(act_format);
}

void quantize_selected(ModelAdapter& model, const std::function<bool(const std::string&)>& selects,
                       const std::shared_ptr<const NumberFormat>& weight_format,
                       const std::shared_ptr<const NumberFormat>& act_format, MethodReport& report) {
  const auto t = Clock::now();
  for (LinearSite* s : model.linear_sites()) {
    if (!selects(s->key())) continue;
    quantize_site(*s, weight_format, act_format);
  }
  report.seconds.emplace_back("quantization", since(t));
}

}  // namespace pqlab
