// Orthogonal input rotations a site applies before quantization (InputTransform): y = Q(xR) Q(WR)^T
// with W R folded offline, so that in full precision (xR)(WR)^T = x R R^T W^T = x W^T. Used by
// quarot (a random-sign Hadamard of the whole input), convrot (a block-diagonal regular
// Hadamard) and permuquant_h. For an orthogonal R, fold_weight is apply on the weight's rows.
// Tests: tests/framework/quant/rotation_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "framework/quant/input_transform.h"

namespace pqlab {

/// QuaRot's online rotation x -> x D H_K / sqrt(K), D = diag of seeded random signs (QuIP#'s
/// randomised Hadamard), H_K = H_m (x) H_{2^n} (framework/quant/hadamard.h). Activations are rotated
/// in float32 through the fast Walsh-Hadamard transform (O(K log K) per token), weights in float64.
class HadamardRotation final : public InputTransform {
 public:
  /// k: input channels (UsageError when hadamard_order(k) has no factorisation); seed: the signs
  /// (random_signs false: D = I); device: where apply() keeps its signs.
  HadamardRotation(int64_t k, uint64_t seed, bool random_signs, const at::Device& device);
  at::Tensor apply(const at::Tensor& x) const override;
  at::Tensor fold_weight(const at::Tensor& w) const override;
  std::string describe() const override;
  const at::Tensor& signs() const { return signs_; }  ///< float64 [K] on the CPU, +-1

 private:
  at::Tensor rotate(const at::Tensor& x, at::ScalarType compute) const;
  int64_t k_;
  uint64_t seed_;
  at::Tensor signs_, signs_device_;
};

/// The rotation over heads that QuaRot leaves online at the attention output projection when the
/// per-head part is folded into the values (framework/quant/producer_fold.h): x -> x (H_h / sqrt(h)
/// (x) I_d) for h heads of d channels; with the folded per-head R the quantizer sees x (H_h (x) R).
class HeadRotation final : public InputTransform {
 public:
  /// UsageError when there is no Hadamard matrix of order `heads`.
  HeadRotation(int64_t heads, int64_t head_dim, const at::Device& device);
  at::Tensor apply(const at::Tensor& x) const override;
  at::Tensor fold_weight(const at::Tensor& w) const override;
  std::string describe() const override;

 private:
  at::Tensor rotate(const at::Tensor& x, const at::Tensor& h) const;
  int64_t heads_, head_dim_;
  at::Tensor h_cpu_, h_device_;  ///< normalised H_heads^T: float64 on the CPU, float32 on the device
};

enum class BlockHadamard { regular, sylvester };

/// A block-diagonal Hadamard rotation along K (ConvRot): x -> x blockdiag(H_b, ..., H_b, tail) /
/// sqrt(b) per block. ConvRot pads K to a multiple of b; a padded K would change the layer's
/// shape, so instead a ragged tail K mod b is rotated in smaller blocks of the same kind (its
/// base-4 digits for regular blocks, base-2 for Sylvester; a block of 1 is left as is).
class BlockRotation final : public InputTransform {
 public:
  /// kind regular: b = 4^j (ConvRot's regular Hadamard, row sums sqrt(b)); sylvester: b = 2^j.
  BlockRotation(int64_t k, int64_t block, BlockHadamard kind, const at::Device& device);
  at::Tensor apply(const at::Tensor& x) const override;
  at::Tensor fold_weight(const at::Tensor& w) const override;
  std::string describe() const override;
  /// Consecutive runs of equal blocks: (first channel, block size, count).
  struct Run {
    int64_t begin, size, count;
  };
  const std::vector<Run>& runs() const { return runs_; }

 private:
  at::Tensor rotate(const at::Tensor& x, bool weights) const;
  int64_t k_, block_;
  BlockHadamard kind_;
  std::vector<Run> runs_;
  std::vector<at::Tensor> mats_device_, mats_cpu_;  ///< per run: normalised [size, size], float32 on device / float64 on CPU
};

}  // namespace pqlab
