// Exact maps a method leaves on a layer's output when it folds a transform into that layer's
// rows (SmoothQuant's 1/s in a modulation's shift and scale rows, QuaRot's per-head rotation of
// the attention values): the variant's output is map(full-precision output). The runner applies
// them to the full-precision reference before comparing (isolated and propagated layer errors,
// the weight error), so a folded-into layer compares like with like; the layer that reads the
// output gets the inverse as its input map (SiteState::input_map).
// Tests: tests/framework/quant/producer_fold_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

namespace pqlab {

class OutputMap {
 public:
  virtual ~OutputMap() = default;
  /// y: [..., N] full-precision outputs -> the variant's, same shape and dtype.
  virtual at::Tensor apply(const at::Tensor& y) const = 0;
  /// w: [N, K] full-precision weight rows -> the rows that produce apply()'s linear part
  /// (biases aside), in w's dtype.
  virtual at::Tensor fold_rows(const at::Tensor& w) const = 0;
  virtual std::string describe() const = 0;
};

/// y' = a * y + c per output channel (a, c: float32 [N]; a = 1, c = 0 outside the folded rows).
class ChannelAffine final : public OutputMap {
 public:
  ChannelAffine(at::Tensor a, at::Tensor c);
  at::Tensor apply(const at::Tensor& y) const override;
  at::Tensor fold_rows(const at::Tensor& w) const override;
  std::string describe() const override { return "affine"; }

 private:
  at::Tensor a_, c_;
};

/// Output channels [begin, begin + count * block) rotated block by block: y'_blk = y_blk R, R an
/// orthogonal [block, block] matrix (float64, kept); other channels unchanged.
class RowBlockRotation final : public OutputMap {
 public:
  RowBlockRotation(int64_t begin, int64_t count, at::Tensor r);
  at::Tensor apply(const at::Tensor& y) const override;
  at::Tensor fold_rows(const at::Tensor& w) const override;
  std::string describe() const override;

 private:
  int64_t begin_, count_;
  at::Tensor r_;
};

/// Maps applied one after the other (first first).
class OutputMapChain final : public OutputMap {
 public:
  static std::shared_ptr<const OutputMap> then(std::shared_ptr<const OutputMap> first, std::shared_ptr<const OutputMap> next);
  at::Tensor apply(const at::Tensor& y) const override;
  at::Tensor fold_rows(const at::Tensor& w) const override;
  std::string describe() const override;

 private:
  std::vector<std::shared_ptr<const OutputMap>> steps_;
};

}  // namespace pqlab
