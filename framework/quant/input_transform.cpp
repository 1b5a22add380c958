#include "framework/quant/input_transform.h"

#include <ATen/ATen.h>

#include "framework/core/error.h"

namespace pqlab {

ChannelGather::ChannelGather(at::Tensor perm) : perm_(perm.to(at::kLong).contiguous()) {
  if (perm_.dim() != 1) throw UsageError("channel gather: the permutation must be 1-D");
  const int64_t k = perm_.size(0);
  const at::Tensor sorted = std::get<0>(perm_.to(at::kCPU).sort());
  if (!at::equal(sorted, at::arange(k, at::kLong)))
    throw UsageError("channel gather: not a permutation of 0.." + std::to_string(k - 1));
}

at::Tensor ChannelGather::apply(const at::Tensor& x) const {
  return x.index_select(-1, perm_.to(x.device()));
}

at::Tensor ChannelGather::fold_weight(const at::Tensor& w) const {
  // (x P) (W P)^T = x P P^T W^T = x W^T: the weight's columns take the same permutation.
  return w.index_select(1, perm_.to(w.device()));
}

ChannelScale::ChannelScale(at::Tensor s) : s_(s.to(at::kFloat).contiguous()) {
  if (s_.dim() != 1) throw UsageError("channel scale: the scales must be 1-D");
  if (!(s_.gt(0).all().item<bool>() && at::isfinite(s_).all().item<bool>()))
    throw UsageError("channel scale: every scale must be positive and finite");
}

at::Tensor ChannelScale::apply(const at::Tensor& x) const {
  return x / s_.to(x.device(), x.scalar_type());
}

at::Tensor ChannelScale::fold_weight(const at::Tensor& w) const {
  return (w.to(at::kFloat) * s_.to(w.device()).unsqueeze(0)).to(w.scalar_type());
}

TransformChain::TransformChain(std::vector<std::shared_ptr<const InputTransform>> steps) : steps_(std::move(steps)) {
  for (const auto& t : steps_)
    if (!t) throw UsageError("transform chain: a step is missing");
}

std::shared_ptr<const InputTransform> TransformChain::then(std::shared_ptr<const InputTransform> first,
                                                           std::shared_ptr<const InputTransform> then) {
  if (!first) return then;
  if (!then) return first;
  std::vector<std::shared_ptr<const InputTransform>> steps;
  if (const auto* chain = dynamic_cast<const TransformChain*>(first.get()))
    steps = chain->steps();
  else
    steps.push_back(first);
  steps.push_back(std::move(then));
  return std::make_shared<TransformChain>(std::move(steps));
}

at::Tensor TransformChain::apply(const at::Tensor& x) const {
  at::Tensor y = x;
  for (const auto& t : steps_) y = t->apply(y);
  return y;
}

at::Tensor TransformChain::fold_weight(const at::Tensor& w) const {
  // x W^T = T1(x) (W T1^-1)^T = T2(T1(x)) (W T1^-1 T2^-1)^T: fold T1 first.
  at::Tensor v = w;
  for (const auto& t : steps_) v = t->fold_weight(v);
  return v;
}

std::string TransformChain::describe() const {
  std::string s;
  for (const auto& t : steps_) s += (s.empty() ? "" : "+") + t->describe();
  return s;
}

}  // namespace pqlab
