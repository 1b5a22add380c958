#include "framework/quant/permutation.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <memory>

#include "framework/core/error.h"
#include "framework/quant/input_transform.h"
#include "framework/quant/linear_site.h"

namespace pqlab {
namespace {

LinearSite& site_at(const std::map<std::string, LinearSite*>& sites, const std::string& key) {
  const auto it = sites.find(key);
  if (it == sites.end()) throw RuntimeError("permutation site: no linear site '" + key + "'");
  return *it->second;
}

}  // namespace

void check_permutation(const PermutationSite& site, const at::Tensor& perm, int64_t k) {
  const at::Tensor p = perm.to(at::kCPU, at::kLong).contiguous();
  if (p.dim() != 1 || p.size(0) != k)
    throw UsageError("permutation site '" + site.kind + "': the permutation must have " + std::to_string(k) + " entries");
  const int64_t* v = p.data_ptr<int64_t>();
  std::vector<int64_t> block_of(static_cast<size_t>(k), -1), group_of(static_cast<size_t>(k), -1);
  for (size_t b = 0; b < site.blocks.size(); ++b) {
    const PermutationBlock& bl = site.blocks[b];
    if (bl.consumer_col < 0 || bl.size < 0 || bl.consumer_col + bl.size > k)
      throw UsageError("permutation site '" + site.kind + "': block outside the consumers' " + std::to_string(k) + " channels");
    for (int64_t j = 0; j < bl.size; ++j) {
      block_of[static_cast<size_t>(bl.consumer_col + j)] = bl.consumer_col;
      group_of[static_cast<size_t>(bl.consumer_col + j)] = bl.group > 0 ? bl.consumer_col + j / bl.group * bl.group : bl.consumer_col;
    }
  }
  std::vector<bool> seen(static_cast<size_t>(k), false);
  for (int64_t j = 0; j < k; ++j) {
    const int64_t s = v[j];
    if (s < 0 || s >= k || seen[static_cast<size_t>(s)])
      throw UsageError("permutation site '" + site.kind + "': not a permutation of 0.." + std::to_string(k - 1));
    seen[static_cast<size_t>(s)] = true;
    const auto J = static_cast<size_t>(j), S = static_cast<size_t>(s);
    if (block_of[J] < 0 ? s != j : group_of[J] != group_of[S])
      throw UsageError("permutation site '" + site.kind + "': channel " + std::to_string(j) + " would read channel " +
                       std::to_string(s) + ", outside its block or group");
  }
}

std::vector<ChannelSegment> permutation_segments(const PermutationSite& site, int64_t k) {
  std::vector<ChannelSegment> segs;
  std::vector<int64_t> done;
  for (const PermutationBlock& b : site.blocks) {
    if (b.consumer_col < 0 || b.size < 0 || b.consumer_col + b.size > k)
      throw UsageError("permutation site '" + site.kind + "': block outside the consumers' " + std::to_string(k) + " channels");
    if (std::find(done.begin(), done.end(), b.consumer_col) != done.end()) continue;
    done.push_back(b.consumer_col);
    const int64_t g = b.group > 0 ? b.group : b.size;
    for (int64_t start = 0; start < b.size; start += g)
      segs.push_back({b.consumer_col + start, b.consumer_col + std::min(start + g, b.size)});
  }
  std::sort(segs.begin(), segs.end(), [](const ChannelSegment& a, const ChannelSegment& b) { return a.begin < b.begin; });
  return segs;
}

at::Tensor sort_within_segments(const at::Tensor& score, const std::vector<ChannelSegment>& segments, bool descending) {
  const at::Tensor sc = score.detach().to(at::kCPU, at::kDouble).contiguous();
  const int64_t k = sc.numel();
  at::Tensor p = at::arange(k, at::kLong);
  for (const ChannelSegment& g : segments) {
    if (g.begin < 0 || g.end > k || g.begin > g.end) throw RuntimeError("sort_within_segments: segment outside [0, K)");
    const int64_t n = g.end - g.begin;
    if (n < 2) continue;
    const at::Tensor idx = std::get<1>(at::sort(sc.narrow(0, g.begin, n), /*stable=*/true, /*dim=*/0, descending));
    p.narrow(0, g.begin, n).copy_(idx + g.begin);
  }
  return p;
}

at::Tensor shuffle_within_segments(int64_t k, const std::vector<ChannelSegment>& segments, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  at::Tensor p = at::arange(k, at::kLong);
  for (const ChannelSegment& g : segments)
    p.narrow(0, g.begin, g.end - g.begin).copy_(at::randperm(g.end - g.begin, gen, at::TensorOptions().dtype(at::kLong)) + g.begin);
  return p;
}

at::Tensor random_permutation(const PermutationSite& site, int64_t k, uint64_t seed) {
  return shuffle_within_segments(k, permutation_segments(site, k), seed);
}

void absorb_permutation(const PermutationSite& site, const at::Tensor& perm,
                        const std::map<std::string, LinearSite*>& sites) {
  if (site.consumers.empty()) throw RuntimeError("permutation site '" + site.kind + "': no consumers");
  const int64_t k = site_at(sites, site.consumers[0]).in_features();
  check_permutation(site, perm, k);
  const at::Tensor p = perm.to(at::kLong).contiguous();
  auto gather = std::make_shared<ChannelGather>(p.cpu());
  for (const std::string& key : site.consumers) {
    LinearSite& c = site_at(sites, key);
    if (c.in_features() != k) throw RuntimeError("permutation site '" + site.kind + "': consumers differ in K");
    c.set_weight(gather->fold_weight(c.weight()));
    c.permute_column_order(p);
    // With a gather the model still feeds the full-precision order; otherwise the producers now
    // write the permuted order.
    if (site.needs_gather)
      c.set_input_transform(gather);
    else
      c.permute_input_order(p);
  }
  if (site.needs_gather) return;
  for (const std::string& key : site.producers) {
    LinearSite& s = site_at(sites, key);
    at::Tensor rows = at::arange(s.out_features(), at::kLong);
    for (const PermutationBlock& b : site.blocks)
      rows.narrow(0, b.producer_row, b.size).copy_(p.narrow(0, b.consumer_col, b.size).cpu() - b.consumer_col + b.producer_row);
    const at::Tensor r = rows.to(s.weight().device());
    s.set_weight(s.weight().index_select(0, r));
    s.permute_output_order(rows);
    if (s.bias().defined()) s.set_bias(s.bias().index_select(0, r));
  }
}

}  // namespace pqlab
