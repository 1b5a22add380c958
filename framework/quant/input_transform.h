// Transforms a linear site applies to its input before quantization: y = q(T(x)) W'^T + b with
// W' = W T^{-1} folded offline by the method, so that T itself changes nothing in full precision
// and only moves what the quantizer sees (PermuQuant's channel order, SmoothQuant's per-channel
// scales; block Hadamard rotations later). Tests: tests/framework/quant/input_transform_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

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
  /// s [K] float32 when the transform is x / s per channel (statistics then transform exactly:
  /// E[(x/s)^2] = E[x^2] / s^2); undefined for any other transform.
  virtual at::Tensor channel_divisor() const { return {}; }
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
  at::Tensor channel_divisor() const override { return s_; }
  const at::Tensor& scales() const { return s_; }

 private:
  at::Tensor s_;
};

/// T = T_n o ... o T_1: apply runs T_1 first; fold_weight folds T_1 first, so that
/// apply(x) @ fold_weight(w)^T == x @ w^T still holds (each step keeps the product).
class TransformChain final : public InputTransform {
 public:
  /// steps: in order of application; none null (checked).
  explicit TransformChain(std::vector<std::shared_ptr<const InputTransform>> steps);
  /// `first` followed by `then`; either may be null (the other is returned).
  static std::shared_ptr<const InputTransform> then(std::shared_ptr<const InputTransform> first,
                                                    std::shared_ptr<const InputTransform> then);
  at::Tensor apply(const at::Tensor& x) const override;
  at::Tensor fold_weight(const at::Tensor& w) const override;
  std::string describe() const override;
  const std::vector<std::shared_ptr<const InputTransform>>& steps() const { return steps_; }

 private:
  std::vector<std::shared_ptr<const InputTransform>> steps_;
};

}  // namespace pqlab
