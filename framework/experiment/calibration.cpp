#include "framework/experiment/calibration.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <array>

#include "framework/core/error.h"
#include "framework/quant/linear_site.h"
#include "framework/quant/permutation.h"
#include "framework/stats/column_stats.h"

namespace pqlab {
namespace {

// splitmix64: decorrelates the reservoir seed of each (sample, step).
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Keeps the `keep` rows of smallest priority; sorted by priority, so the result does not depend
// on the order in which rows arrived (one batch or many). Only the kept rows are gathered and
// converted to float32: copying a whole layer input per call (FLUX: 4608 tokens x K) made the
// reservoir cost ~40% of a calibration step.
void reservoir_add(InputStats& s, const at::Tensor& rows, const at::Tensor& keys, int64_t keep) {
  const int64_t old = s.keys.defined() ? s.keys.size(0) : 0;
  const at::Tensor all_keys = old > 0 ? at::cat({s.keys, keys}, 0) : keys;
  const int64_t k = std::min<int64_t>(keep, all_keys.size(0));
  const auto top = at::topk(all_keys, k, 0, /*largest=*/false, /*sorted=*/true);
  const at::Tensor& idx = std::get<1>(top);
  at::Tensor picked = rows.index_select(0, (idx - old).clamp_min(0)).to(at::kFloat);
  if (old > 0)
    picked = at::where(idx.lt(old).unsqueeze(1), s.rows.index_select(0, idx.clamp_max(old - 1)), picked);
  s.keys = std::get<0>(top);
  s.rows = picked;
}

InputStats zero_stats(int64_t k, const at::TensorOptions& o) {
  InputStats s;
  s.count = at::zeros({}, o);
  s.sum = at::zeros({k}, o);
  s.sumsq = at::zeros({k}, o);
  s.absmax = at::zeros({k}, o);
  return s;
}

}  // namespace

int64_t Calibration::bucket_of(int64_t step) const {
  int64_t b = 0;
  while (b + 1 < static_cast<int64_t>(bucket_first_step.size()) && bucket_first_step[b + 1] <= step) ++b;
  return b;
}

InputStats Calibration::pooled(const std::string& key) const {
  const auto it = stats.find(key);
  if (it == stats.end()) throw RuntimeError("calibration: no statistics for site '" + key + "'");
  const std::vector<InputStats>& v = it->second;
  InputStats p = zero_stats(v.at(0).sum.size(0), v.at(0).sum.options());
  int64_t keep = 0;
  for (const InputStats& s : v) {
    p.count = p.count + s.count;
    p.sum = p.sum + s.sum;
    p.sumsq = p.sumsq + s.sumsq;
    p.absmax = at::maximum(p.absmax, s.absmax);
    if (s.rows.defined()) keep = std::max<int64_t>(keep, s.rows.size(0));
  }
  for (const InputStats& s : v)
    if (s.rows.defined()) reservoir_add(p, s.rows, s.keys, keep);
  return p;
}

ChannelStats site_channel_stats(const Calibration& cal, const PermutationSite& site,
                                const std::map<std::string, LinearSite*>& sites, int64_t bucket, uint64_t seed) {
  if (site.consumers.empty()) throw RuntimeError("permutation site '" + site.kind + "': no consumers");
  const std::string& first = site.consumers[0];
  if (!cal.stats.count(first))
    throw RuntimeError("permutation site '" + site.kind + "': no calibration statistics for consumer '" + first + "'");
  const auto& buckets = cal.stats.at(first);
  if (bucket >= static_cast<int64_t>(buckets.size()))
    throw RuntimeError("calibration bucket " + std::to_string(bucket) + " does not exist (" +
                       std::to_string(buckets.size()) + " buckets)");
  const InputStats in = bucket < 0 ? cal.pooled(first) : buckets[static_cast<size_t>(bucket)];
  if (in.count.item<double>() <= 0)
    throw RuntimeError("permutation site '" + site.kind + "': calibration bucket " + std::to_string(bucket) + " saw no tokens");
  ChannelStats s;
  s.k = in.sum.size(0);
  s.act_second_moment = (in.sumsq / in.count).cpu();
  s.act_absmax = in.absmax.cpu();
  // Weight moments over the concatenated rows of every consumer: a row-weighted mean of each
  // consumer's mean square, and the largest absmax.
  at::Tensor sq_sum = at::zeros({s.k}, at::kDouble), absmax = at::zeros({s.k}, at::kDouble);
  double rows = 0;
  for (const std::string& key : site.consumers) {
    const auto ws = cal.weight_sq_mean.find(key);
    const auto wm = cal.weight_absmax.find(key);
    const auto st = sites.find(key);
    if (ws == cal.weight_sq_mean.end() || wm == cal.weight_absmax.end() || st == sites.end())
      throw RuntimeError("permutation site '" + site.kind + "': no weight statistics for consumer '" + key + "'");
    if (ws->second.size(0) != s.k)
      throw RuntimeError("permutation site '" + site.kind + "': consumer '" + key + "' has K = " +
                         std::to_string(ws->second.size(0)) + ", not " + std::to_string(s.k));
    const auto n = static_cast<double>(st->second->out_features());
    sq_sum += ws->second.cpu() * n;
    absmax = at::maximum(absmax, wm->second.cpu());
    rows += n;
  }
  s.weight_second_moment = sq_sum / rows;
  s.weight_absmax = absmax;
  s.segments = permutation_segments(site, s.k);
  s.seed = seed;
  return s;
}

CalibrationCollector::CalibrationCollector(const std::vector<LinearSite*>& sites, std::vector<int64_t> bucket_first_step,
                                           int64_t num_steps, int64_t keep_rows, uint64_t seed)
    : sites_(sites), bucket_first_step_(std::move(bucket_first_step)), keep_rows_(keep_rows), seed_(seed) {
  if (bucket_first_step_.empty())
    for (int64_t s = 0; s < num_steps; ++s) bucket_first_step_.push_back(s);
  for (int64_t s = 0, b = 0; s < num_steps; ++s) {
    while (b + 1 < static_cast<int64_t>(bucket_first_step_.size()) && bucket_first_step_[b + 1] <= s) ++b;
    bucket_of_step_.push_back(b);
  }
  // Buckets that start past the last step stay empty (count 0), as configured.
  for (LinearSite* site : sites_) {
    const at::TensorOptions o = at::TensorOptions().dtype(at::kDouble).device(site->weight().device());
    // One set of tensors per bucket (not copies of one: the sums are accumulated in place).
    auto& v = stats_[site->key()];
    for (size_t b = 0; b < bucket_first_step_.size(); ++b) v.push_back(zero_stats(site->in_features(), o));
  }
}

void CalibrationCollector::arm(const StepContext* ctx) {
  for (LinearSite* site : sites_)
    site->set_tap([this, ctx](const LinearSite& s, const at::Tensor& in, const at::Tensor&) { observe(s, in, *ctx); });
}

void CalibrationCollector::disarm() {
  for (LinearSite* site : sites_) site->set_tap(nullptr);
}

void CalibrationCollector::observe(const LinearSite& site, const at::Tensor& x, const StepContext& ctx) {
  auto it = stats_.find(site.key());
  if (it == stats_.end()) return;
  if (ctx.step < 0 || ctx.step >= static_cast<int64_t>(bucket_of_step_.size()))
    throw RuntimeError("calibration: step " + std::to_string(ctx.step) + " outside the schedule");
  InputStats& s = it->second[static_cast<size_t>(bucket_of_step_[static_cast<size_t>(ctx.step)])];
  const int64_t k = x.size(-1);
  const at::Tensor rows = x.detach().reshape({-1, k});
  s.count = s.count + static_cast<double>(rows.size(0));
  accumulate_column_stats(rows, s.sum, s.sumsq, s.absmax);
  if (keep_rows_ <= 0) return;
  const at::Tensor& keys = priorities(x.size(0), rows.size(0), ctx, rows.device());
  const Pick* pick = nullptr;
  for (const Pick& p : picks_)
    if (p.old_keys.is_same(s.keys) && p.call_keys.is_same(keys)) pick = &p;
  if (!pick) {
    // Sites whose reservoirs saw the same calls hold the very same priority tensor (assigned from
    // one Pick), so is_same() finds their shared selection.
    Pick p;
    p.old_keys = s.keys;
    p.call_keys = keys;
    const int64_t old = s.keys.defined() ? s.keys.size(0) : 0;
    const at::Tensor all_keys = old > 0 ? at::cat({s.keys, keys}, 0) : keys;
    const auto top = at::topk(all_keys, std::min<int64_t>(keep_rows_, all_keys.size(0)), 0, /*largest=*/false,
                              /*sorted=*/true);
    p.keys = std::get<0>(top);
    const at::Tensor& idx = std::get<1>(top);
    p.new_index = (idx - old).clamp_min(0);
    if (old > 0) {
      p.old_index = idx.clamp_max(old - 1);
      p.from_old = idx.lt(old).unsqueeze(1);
    }
    picks_.push_back(std::move(p));
    pick = &picks_.back();
  }
  // The same rows reservoir_add would keep, without its per-site top-k.
  at::Tensor picked = rows.index_select(0, pick->new_index).to(at::kFloat);
  if (pick->old_index.defined()) picked = at::where(pick->from_old, s.rows.index_select(0, pick->old_index), picked);
  s.keys = pick->keys;
  s.rows = picked;
}

// Priorities per (sample, step, token), the same for every site: batch-invariant, and the
// reservoirs of all sites hold rows of the same tokens. Drawn on the CPU once per call and copied
// to the device once (not once per site: each copy waits for the device).
const at::Tensor& CalibrationCollector::priorities(int64_t batch, int64_t rows, const StepContext& ctx,
                                                   const at::Device& device) {
  const std::array<int64_t, 3> call{ctx.first_sample, ctx.step, batch};
  if (call != keys_call_ || (!keys_by_rows_.empty() && keys_by_rows_.begin()->second.device() != device)) {
    keys_by_rows_.clear();
    picks_.clear();
    keys_call_ = call;
  }
  const auto it = keys_by_rows_.find(rows);
  if (it != keys_by_rows_.end()) return it->second;
  const int64_t per_sample = rows / std::max<int64_t>(batch, 1);
  std::vector<at::Tensor> keys;
  for (int64_t b = 0; b < batch; ++b) {
    const uint64_t sample = static_cast<uint64_t>(ctx.first_sample + b);
    auto gen = at::detail::createCPUGenerator(mix(seed_ ^ mix(sample * 1000003ULL + static_cast<uint64_t>(ctx.step))));
    keys.push_back(at::rand({per_sample}, gen, at::TensorOptions().dtype(at::kDouble)));
  }
  return keys_by_rows_[rows] = at::cat(keys, 0).to(device);
}

Calibration CalibrationCollector::finish() {
  Calibration c;
  c.bucket_first_step = bucket_first_step_;
  for (LinearSite* site : sites_) {
    c.site_keys.push_back(site->key());
    const at::Tensor w = site->weight().detach().to(at::kDouble);
    c.weight_sq_mean[site->key()] = w.pow(2).mean(0);
    c.weight_absmax[site->key()] = w.abs().amax(0);
  }
  c.stats = std::move(stats_);
  stats_.clear();
  return c;
}

}  // namespace pqlab
