// Transforms a linear site applies to its input before quantization: y = q(T(x)) W'^T + b with
// W' = W T^{-1} folded offline by the method, so that T itself changes nothing in full precision
// and only moves what the quantizer sees (PermuQuant's channel order, SmoothQuant's per-channel
// scales; block Hadamard rotations later). Tests: tests/framework/quant/input_transform_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

namespace pqlab {

class InputTransform {
 public:
  virtual ~InputTransform() = default;
  /// x: [..., K] in the model dtype -> [..., K], same dtype and device.
  virtual at::Tensor apply(const at::Tensor& x) const = 0;
  /// The weight seen through the transform: w [N, K] -> W T^{-1} [N, K], so that
  /// apply(x) @ fold_weight(w)^T == x @ w^T up to round-off.
  virtual at::Tensor fold_weight(const at::Tensor& w) const = 0;
  virtual std::string describe() const = 0;
};

/// x[..., perm]: channel k of the output is input channel perm[k]. In deployment the producer
/// writes its output in this order (absorbed); in the simulation it is a gather.
class ChannelGather final : public InputTransform {
 public:
  /// perm: [K] int64, a permutation of 0..K-1 (checked).
  explicit ChannelGather(at::Tensor perm);
  at::Tensor apply(const at::Tensor& x) const override;
  at::Tensor fold_weight(const at::Tensor& w) const override;
  std::string describe() const override { return "gather"; }
  const at::Tensor& permutation() const { return perm_; }

 private:
  at::Tensor perm_;
};

/// x / s per input channel (SmoothQuant's migration of activation range into the weights).
class ChannelScale final : public InputTransform {
 public:
  /// s: [K], positive and finite (checked); kept in float32 and cast to x's dtype when applied.
  explicit ChannelScale(at::Tensor s);
  at::Tensor apply(const at::Tensor& x) const override;
  at::Tensor fold_weight(const at::Tensor& w) const override;
  std::string describe() const override { return "scale"; }

 private:
  at::Tensor s_;
};

}  // namespace pqlab
