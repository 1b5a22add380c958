#include "framework/quant/output_map.h"

#include <ATen/ATen.h>

#include "framework/core/error.h"

namespace pqlab {

ChannelAffine::ChannelAffine(at::Tensor a, at::Tensor c) : a_(a.to(at::kFloat).contiguous()), c_(c.to(at::kFloat).contiguous()) {
  if (a_.dim() != 1 || !a_.sizes().equals(c_.sizes())) throw UsageError("channel affine map: a and c must be [N]");
}

at::Tensor ChannelAffine::apply(const at::Tensor& y) const {
  return (y.to(at::kFloat) * a_.to(y.device()) + c_.to(y.device())).to(y.scalar_type());
}

at::Tensor ChannelAffine::fold_rows(const at::Tensor& w) const {
  return (w.to(at::kFloat) * a_.to(w.device()).unsqueeze(1)).to(w.scalar_type());
}

RowBlockRotation::RowBlockRotation(int64_t begin, int64_t count, at::Tensor r)
    : begin_(begin), count_(count), r_(r.to(at::kCPU, at::kDouble).contiguous()) {
  if (r_.dim() != 2 || r_.size(0) != r_.size(1)) throw UsageError("row block rotation: R must be square");
}

at::Tensor RowBlockRotation::apply(const at::Tensor& y) const {
  const int64_t b = r_.size(0);
  at::Tensor out = y.clone();
  at::Tensor part = y.narrow(-1, begin_, count_ * b).to(at::kFloat);
  std::vector<int64_t> shape(part.sizes().begin(), part.sizes().end() - 1);
  shape.insert(shape.end(), {count_, b});
  part = at::matmul(part.reshape(shape), r_.to(y.device(), at::kFloat)).reshape(part.sizes());
  out.narrow(-1, begin_, count_ * b).copy_(part);
  return out;
}

at::Tensor RowBlockRotation::fold_rows(const at::Tensor& w) const {
  // y' = y R per block with y = W u: rows' = R^T rows.
  const int64_t b = r_.size(0);
  at::Tensor out = w.clone();
  const at::Tensor rows = w.narrow(0, begin_, count_ * b).to(at::kDouble).reshape({count_, b, w.size(1)});
  out.narrow(0, begin_, count_ * b).copy_(at::matmul(r_.t().to(w.device()), rows).reshape({count_ * b, w.size(1)}));
  return out;
}

std::string RowBlockRotation::describe() const {
  return "rows " + std::to_string(begin_) + "+" + std::to_string(count_) + "x" + std::to_string(r_.size(0)) + " rotated";
}

std::shared_ptr<const OutputMap> OutputMapChain::then(std::shared_ptr<const OutputMap> first,
                                                      std::shared_ptr<const OutputMap> next) {
  if (!first) return next;
  if (!next) return first;
  auto c = std::make_shared<OutputMapChain>();
  if (const auto* chain = dynamic_cast<const OutputMapChain*>(first.get()))
    c->steps_ = chain->steps_;
  else
    c->steps_.push_back(first);
  c->steps_.push_back(std::move(next));
  return c;
}

at::Tensor OutputMapChain::apply(const at::Tensor& y) const {
  at::Tensor v = y;
  for (const auto& s : steps_) v = s->apply(v);
  return v;
}

at::Tensor OutputMapChain::fold_rows(const at::Tensor& w) const {
  at::Tensor v = w;
  for (const auto& s : steps_) v = s->fold_rows(v);
  return v;
}

std::string OutputMapChain::describe() const {
  std::string s;
  for (const auto& t : steps_) s += (s.empty() ? "" : "+") + t->describe();
  return s;
}

}  // namespace pqlab
