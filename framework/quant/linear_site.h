// A quantizable linear layer of a model:
//   y = q_act(T(x)) W^T + b + (T(x) A^T) B^T
// W may already hold fake-quantized values (methods edit it once, offline); T is an optional
// input transform (channel gather, per-channel scale, rotation; the method folds T^{-1} into W);
// q_act quantizes activations dynamically per token and group along K; A, B an optional
// high-precision low-rank branch (SVDQuant). Adapters own their sites and call forward(); the
// runner computes a site's isolated error with compute(), the same math, so the two cannot drift.
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <string>

namespace pqlab {
class NumberFormat;
class InputTransform;
class OutputMap;
struct EncodedTensor;

/// Everything a method may change on a site. The runner keeps the full-precision state and a
/// variant's state side by side and switches between them by handle (no copies, no checks), and
/// evaluates a site in one state while the model runs in the other (isolated errors).
struct SiteState {
  at::Tensor weight;                                  ///< [N, K]; undefined while the weight is packed
  /// A quantized weight kept as its format's codes and scales (LinearSite::set_pack_quantized),
  /// decoded at every call: 4-8 bits per weight instead of 16, so a variant of a 24 GB model does
  /// not hold a second 24 GB. decode(encode(W)) == fake_quant(W) bit for bit (the format contract).
  std::shared_ptr<const EncodedTensor> packed_weight;
  std::shared_ptr<const NumberFormat> weight_format;  ///< decodes packed_weight
  at::Tensor bias;                                    ///< [N] or undefined
  std::shared_ptr<const NumberFormat> act_format;     ///< null = full-precision inputs
  std::shared_ptr<const InputTransform> input_transform;  ///< null = identity
  at::Tensor low_rank_a, low_rank_b;                  ///< [r, K], [N, r] or undefined
  /// Channel orders relative to the full-precision model, left by absorbed permutations
  /// (framework/quant/permutation.h), so that per-layer errors compare like with like. int64, on
  /// the weight's device; undefined = the model's own order.
  at::Tensor input_order;   ///< [K]: input channel j is the full-precision model's channel input_order[j]
  at::Tensor output_order;  ///< [N]: output channel i is the full-precision model's output_order[i]
  at::Tensor column_order;  ///< [K]: weight column j is the full-precision weight's column column_order[j]
  /// Exact maps left by transforms folded into neighbouring layers (framework/quant/producer_fold.h):
  /// this variant's input is input_map(full-precision input, after input_order), its output
  /// output_map(full-precision output, after output_order). Null = identity.
  std::shared_ptr<const InputTransform> input_map;
  std::shared_ptr<const OutputMap> output_map;
};

/// The weight of a state [N, K], decoded when packed (a new tensor then).
at::Tensor site_weight(const SiteState& st);

class LinearSite {
 public:
  /// key: stable semantic key ("block.0.mlp.up"); role: layer kind ("mlp_up").
  /// weight: [N, K]; bias: [N] or undefined. Both keep the model's dtype and device.
  LinearSite(std::string key, std::string role, at::Tensor weight, at::Tensor bias);

  const std::string& key() const { return key_; }
  const std::string& role() const { return role_; }
  int64_t in_features() const;
  int64_t out_features() const;

  /// The weight [N, K] in the model's dtype and device (decoded when packed: a new tensor).
  at::Tensor weight() const;
  const at::Tensor& bias() const { return state_.bias; }
  /// Replaces the weight (same shape; cast to the current dtype/device).
  void set_weight(const at::Tensor& w);
  /// Replaces the bias (same shape; cast likewise). Absorbed permutations reorder it.
  void set_bias(const at::Tensor& b);
  /// Quantizes the weight in `f` (per output row, groups along K): packed (codes and scales) when
  /// set_pack_quantized(true), else a fake-quantized copy; the site computes the same either way.
  /// A format that cannot take this layer's K (e.g. a group size that does not divide it) is a
  /// UsageError naming the layer.
  void quantize_weight(std::shared_ptr<const NumberFormat> f);
  /// How quantize_weight stores its result (a run option: memory against a decode per call).
  void set_pack_quantized(bool packed) { pack_quantized_ = packed; }
  bool weight_packed() const { return state_.packed_weight != nullptr; }
  /// Dynamic activation format, or null for full-precision inputs. Checked against this layer's
  /// K at once (a UsageError naming the layer), not at the first forward.
  void set_act_format(std::shared_ptr<const NumberFormat> f);
  const NumberFormat* act_format() const { return state_.act_format.get(); }

  /// Input transform T (null = identity). The caller folds T^{-1} into the weight
  /// (InputTransform::fold_weight) before quantizing it.
  void set_input_transform(std::shared_ptr<const InputTransform> t) { state_.input_transform = std::move(t); }
  const InputTransform* input_transform() const { return state_.input_transform.get(); }
  /// Low-rank branch y += (T(x) A^T) B^T, computed in the dtype of A and B. a: [r, K], b: [N, r];
  /// undefined tensors remove the branch.
  void set_low_rank(at::Tensor a, at::Tensor b);
  const at::Tensor& low_rank_a() const { return state_.low_rank_a; }
  const at::Tensor& low_rank_b() const { return state_.low_rank_b; }

  /// Observer of (the site's input x before transform and quantization, its output y); used for
  /// statistics and per-layer errors. The caller knows the step (framework/experiment/trajectory.h).
  using Tap = std::function<void(const LinearSite&, const at::Tensor& in, const at::Tensor& out)>;
  void set_tap(Tap tap) { tap_ = std::move(tap); }

  /// x: [..., K] in the model dtype. Returns [..., N]. compute() and then the tap.
  at::Tensor forward(const at::Tensor& x) const;
  /// The site's math without the tap (the formula above).
  at::Tensor compute(const at::Tensor& x) const { return compute(x, state_); }
  /// The same math in another state of this site.
  at::Tensor compute(const at::Tensor& x, const SiteState& state) const;

  /// Records absorbed permutations (see SiteState); each composes with what is there already:
  /// new order = old order[perm]. perm: int64 [K] (input, columns) or [N] (output).
  void permute_input_order(const at::Tensor& perm);
  void permute_output_order(const at::Tensor& perm);
  void permute_column_order(const at::Tensor& perm);
  /// Records a transform folded into this site's producers (new input map = m o old) or into this
  /// site's own rows (new output map = m o old); see SiteState.
  void compose_input_map(std::shared_ptr<const InputTransform> m);
  void compose_output_map(std::shared_ptr<const OutputMap> m);

  const SiteState& state() const { return state_; }
  /// Switches to a state taken from state() of this site (shapes are not checked again).
  void set_state(SiteState s) { state_ = std::move(s); }

 private:
  at::TensorOptions weight_options() const;

  std::string key_, role_;
  int64_t out_features_ = 0, in_features_ = 0;
  bool pack_quantized_ = false;
  SiteState state_;
  Tap tap_;
};

}  // namespace pqlab
