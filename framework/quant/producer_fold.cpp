#include "framework/quant/producer_fold.h"

#include <ATen/ATen.h>

#include <cmath>
#include <memory>

#include "framework/core/error.h"
#include "framework/quant/hadamard.h"
#include "framework/quant/input_transform.h"
#include "framework/quant/linear_site.h"
#include "framework/quant/output_map.h"
#include "framework/quant/rotation.h"

namespace pqlab {
namespace {

LinearSite& at_key(const std::map<std::string, LinearSite*>& sites, const std::string& key) {
  const auto it = sites.find(key);
  if (it == sites.end()) throw RuntimeError("producer fold: no linear site '" + key + "'");
  return *it->second;
}

}  // namespace

bool scales_foldable(const PermutationSite& site, int64_t k) {
  if (site.producers.empty() || site.consumers.empty()) return false;
  at::Tensor linear = at::zeros({k}, at::kInt), shift = at::zeros({k}, at::kInt), scale = at::zeros({k}, at::kInt);
  for (const PermutationBlock& b : site.blocks) {
    if (b.consumer_col < 0 || b.consumer_col + b.size > k) return false;
    at::Tensor* t = b.algebra == BlockAlgebra::linear             ? &linear
                    : b.algebra == BlockAlgebra::modulation_shift ? &shift
                    : b.algebra == BlockAlgebra::modulation_scale ? &scale
                                                                  : nullptr;
    if (!t) return false;
    t->narrow(0, b.consumer_col, b.size).add_(1);
  }
  // Each channel: written linearly once, or by a modulation's shift and scale together.
  const at::Tensor mod = shift.gt(0).logical_and(scale.gt(0)).logical_and(linear.eq(0));
  const at::Tensor lin = linear.eq(1).logical_and(shift.eq(0)).logical_and(scale.eq(0));
  return mod.logical_or(lin).all().item<bool>();
}

void fold_scales(const PermutationSite& site, const at::Tensor& s, const std::map<std::string, LinearSite*>& sites) {
  const int64_t k = s.size(0);
  if (!scales_foldable(site, k))
    throw UsageError("permutation site '" + site.kind + "': per-channel scales cannot be folded into its producers");
  const at::Tensor s32 = s.to(at::kCPU, at::kFloat).contiguous();
  auto scale = std::make_shared<ChannelScale>(s32);
  for (const std::string& key : site.consumers) {
    LinearSite& c = at_key(sites, key);
    c.set_weight(scale->fold_weight(c.weight()));
    c.compose_input_map(scale);
  }
  for (const std::string& key : site.producers) {
    LinearSite& p = at_key(sites, key);
    const int64_t n = p.out_features();
    at::Tensor a = at::ones({n}, at::kFloat), c = at::zeros({n}, at::kFloat);
    for (const PermutationBlock& b : site.blocks) {
      const at::Tensor inv = 1.0 / s32.narrow(0, b.consumer_col, b.size);
      a.narrow(0, b.producer_row, b.size).copy_(inv);
      // (1 + y) / s - 1 = y / s + (1 / s - 1).
      if (b.algebra == BlockAlgebra::modulation_scale) c.narrow(0, b.producer_row, b.size).copy_(inv - 1);
    }
    auto map = std::make_shared<ChannelAffine>(a, c);
    p.set_weight(map->fold_rows(p.weight()));
    const at::Tensor bias = p.bias().defined() ? p.bias() : at::zeros({n}, p.weight().options());
    if (p.bias().defined() || c.ne(0).any().item<bool>()) {
      if (!p.bias().defined())
        throw UsageError("producer fold: modulation '" + key + "' has no bias to take the scale's offset");
      p.set_bias(map->apply(bias.unsqueeze(0)).squeeze(0));
    }
    p.compose_output_map(map);
  }
}

int64_t head_rotation_size(const PermutationSite& site, int64_t k) {
  if (site.blocks.size() != 1 || site.needs_gather || site.producers.empty()) return 0;
  const PermutationBlock& b = site.blocks[0];
  if (b.algebra != BlockAlgebra::linear || b.consumer_col != 0 || b.size != k || b.group < 2) return 0;
  if ((b.group & (b.group - 1)) != 0 || k % b.group != 0) return 0;
  return b.group;
}

void fold_head_rotation(const PermutationSite& site, const std::map<std::string, LinearSite*>& sites) {
  if (site.consumers.empty()) throw RuntimeError("permutation site '" + site.kind + "': no consumers");
  const int64_t k = at_key(sites, site.consumers[0]).in_features();
  const int64_t g = head_rotation_size(site, k);
  if (g == 0) throw UsageError("permutation site '" + site.kind + "' cannot take a per-head rotation");
  const at::Tensor r = hadamard_matrix(g) / std::sqrt(static_cast<double>(g));
  for (const std::string& key : site.consumers) {
    LinearSite& c = at_key(sites, key);
    auto heads = std::make_shared<BlockRotation>(k, g, BlockHadamard::sylvester, c.weight().device());
    c.set_weight(heads->fold_weight(c.weight()));
    c.compose_input_map(heads);
  }
  const PermutationBlock& b = site.blocks[0];
  for (const std::string& key : site.producers) {
    LinearSite& p = at_key(sites, key);
    auto map = std::make_shared<RowBlockRotation>(b.producer_row, k / g, r);
    p.set_weight(map->fold_rows(p.weight()));
    if (p.bias().defined()) p.set_bias(map->apply(p.bias().unsqueeze(0)).squeeze(0));
    p.compose_output_map(map);
  }
}

}  // namespace pqlab
