#include "framework/quant/rotation.h"

#include <ATen/ATen.h>

#include <cmath>

#include "framework/core/error.h"
#include "framework/quant/hadamard.h"

namespace pqlab {

HadamardRotation::HadamardRotation(int64_t k, uint64_t seed, bool random_signs, const at::Device& device)
    : k_(k), seed_(seed) {
  hadamard_order(k);  // a clear UsageError now rather than at the first forward
  if (random_signs) {
    auto gen = at::detail::createCPUGenerator(seed);
    signs_ = at::randint(0, 2, {k}, gen, at::TensorOptions().dtype(at::kDouble)) * 2 - 1;
  } else {
    signs_ = at::ones({k}, at::kDouble);
  }
  signs_device_ = signs_.to(device, at::kFloat);
}

at::Tensor HadamardRotation::rotate(const at::Tensor& x, at::ScalarType compute) const {
  if (x.size(-1) != k_)
    throw RuntimeError("hadamard rotation of size " + std::to_string(k_) + " applied to " + std::to_string(x.size(-1)) +
                       " channels");
  const at::Tensor d = compute == at::kFloat && x.device() == signs_device_.device() ? signs_device_
                                                                                      : signs_.to(x.device(), compute);
  return hadamard_transform_last(x.to(compute) * d).to(x.scalar_type());
}

at::Tensor HadamardRotation::apply(const at::Tensor& x) const { return rotate(x, at::kFloat); }
at::Tensor HadamardRotation::fold_weight(const at::Tensor& w) const { return rotate(w, at::kDouble); }

std::string HadamardRotation::describe() const { return "hadamard " + hadamard_order(k_).describe(); }

HeadRotation::HeadRotation(int64_t heads, int64_t head_dim, const at::Device& device)
    : heads_(heads), head_dim_(head_dim) {
  h_cpu_ = (hadamard_matrix(heads) / std::sqrt(static_cast<double>(heads))).t().contiguous();
  h_device_ = h_cpu_.to(device, at::kFloat);
}

at::Tensor HeadRotation::rotate(const at::Tensor& x, const at::Tensor& h) const {
  if (x.size(-1) != heads_ * head_dim_)
    throw RuntimeError("head rotation of " + std::to_string(heads_) + " x " + std::to_string(head_dim_) +
                       " applied to " + std::to_string(x.size(-1)) + " channels");
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end() - 1);
  shape.insert(shape.end(), {heads_, head_dim_});
  const at::Tensor m = h.device() == x.device() ? h : h.to(x.device());
  return at::matmul(m.to(h.scalar_type()), x.to(h.scalar_type()).reshape(shape)).reshape(x.sizes()).to(x.scalar_type());
}

at::Tensor HeadRotation::apply(const at::Tensor& x) const { return rotate(x, h_device_); }
at::Tensor HeadRotation::fold_weight(const at::Tensor& w) const { return rotate(w, h_cpu_); }

std::string HeadRotation::describe() const {
  return "hadamard over " + std::to_string(heads_) + " heads";
}

namespace {

at::Tensor block_matrix(int64_t size, BlockHadamard kind) {
  const at::Tensor h = kind == BlockHadamard::regular ? regular_hadamard_matrix(size) : hadamard_matrix(size);
  return h / std::sqrt(static_cast<double>(size));
}

bool power_of(int64_t v, int64_t base) {
  while (v > 1 && v % base == 0) v /= base;
  return v == 1;
}

}  // namespace

BlockRotation::BlockRotation(int64_t k, int64_t block, BlockHadamard kind, const at::Device& device)
    : k_(k), block_(block), kind_(kind) {
  const int64_t base = kind == BlockHadamard::regular ? 4 : 2;
  if (block < base || !power_of(block, base))
    throw UsageError(std::string("block rotation: block ") + std::to_string(block) + " is not a power of " +
                     std::to_string(base) + (kind == BlockHadamard::regular ? " (regular Hadamard: 4, 16, 64, 256, ...)" : ""));
  int64_t at_ = 0;
  for (int64_t size = block; size >= base; size /= base) {
    const int64_t count = (k - at_) / size;
    if (count == 0) continue;
    runs_.push_back({at_, size, count});
    at_ += count * size;
  }
  for (const Run& r : runs_) {
    mats_cpu_.push_back(block_matrix(r.size, kind));
    mats_device_.push_back(mats_cpu_.back().to(device, at::kFloat));
  }
}

at::Tensor BlockRotation::rotate(const at::Tensor& x, bool weights) const {
  if (x.size(-1) != k_)
    throw RuntimeError("block rotation of size " + std::to_string(k_) + " applied to " + std::to_string(x.size(-1)) +
                       " channels");
  const at::ScalarType compute = weights ? at::kDouble : at::kFloat;
  const at::Tensor xc = x.to(compute);
  std::vector<at::Tensor> parts;
  int64_t end = 0;
  for (size_t i = 0; i < runs_.size(); ++i) {
    const Run& r = runs_[i];
    const at::Tensor& m0 = weights ? mats_cpu_[i] : mats_device_[i];
    const at::Tensor m = m0.device() == x.device() ? m0 : m0.to(x.device());
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end() - 1);
    shape.insert(shape.end(), {r.count, r.size});
    parts.push_back(at::matmul(xc.narrow(-1, r.begin, r.count * r.size).reshape(shape), m.to(compute))
                        .reshape(xc.narrow(-1, r.begin, r.count * r.size).sizes()));
    end = r.begin + r.count * r.size;
  }
  if (end < k_) parts.push_back(xc.narrow(-1, end, k_ - end));
  return at::cat(parts, -1).to(x.scalar_type());
}

at::Tensor BlockRotation::apply(const at::Tensor& x) const { return rotate(x, false); }
at::Tensor BlockRotation::fold_weight(const at::Tensor& w) const { return rotate(w, true); }

std::string BlockRotation::describe() const {
  return std::string(kind_ == BlockHadamard::regular ? "regular" : "sylvester") + " block " + std::to_string(block_);
}

}  // namespace pqlab
