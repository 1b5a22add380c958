// A quantizable linear layer of a model: y = q_act(x) W^T + b, where W may already hold
// fake-quantized values (methods edit it once, offline) and q_act quantizes activations
// dynamically per token and group along K. Adapters own their sites and call forward().
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <string>

namespace pqlab {
class NumberFormat;

class LinearSite {
 public:
  /// key: stable semantic key ("block.0.mlp.up"); role: layer kind ("mlp_up").
  /// weight: [N, K]; bias: [N] or undefined. Both keep the model's dtype and device.
  LinearSite(std::string key, std::string role, at::Tensor weight, at::Tensor bias);

  const std::string& key() const { return key_; }
  const std::string& role() const { return role_; }
  int64_t in_features() const;
  int64_t out_features() const;

  const at::Tensor& weight() const { return weight_; }
  const at::Tensor& bias() const { return bias_; }
  /// Replaces the weight (same shape; cast to the current dtype/device).
  void set_weight(const at::Tensor& w);
  /// Fake-quantizes the weight in `f` (per output row, groups along K). A format that cannot
  /// take this layer's K (e.g. a group size that does not divide it) is a UsageError naming the layer.
  void quantize_weight(const NumberFormat& f);
  /// Dynamic activation format, or null for full-precision inputs. Checked against this layer's
  /// K at once (a UsageError naming the layer), not at the first forward.
  void set_act_format(std::shared_ptr<const NumberFormat> f);
  const NumberFormat* act_format() const { return act_format_.get(); }

  /// Observer of (input as seen by the matmul, output); used for statistics and per-layer errors.
  using Tap = std::function<void(const LinearSite&, const at::Tensor& in, const at::Tensor& out)>;
  void set_tap(Tap tap) { tap_ = std::move(tap); }

  /// x: [..., K] in the model dtype. Returns [..., N].
  at::Tensor forward(const at::Tensor& x) const;

 private:
  std::string key_, role_;
  at::Tensor weight_, bias_;
  std::shared_ptr<const NumberFormat> act_format_;
  Tap tap_;
};

}  // namespace pqlab
