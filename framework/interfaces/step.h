// The step-level diffusion contract's small pieces: which model call this is, and the sampler's
// update rule. The runner drives every trajectory (framework/experiment/trajectory.h); an adapter
// only answers "the model's output for latents x at step s, samples i..j" (ModelAdapter::velocity)
// and names its schedule and update rule. A plain network is the one-step case: schedule {1, 0},
// update "output" (the model's output is the result).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace pqlab {

/// One model call inside a trajectory.
struct StepContext {
  int64_t step = 0;          ///< 0-based index into the schedule; the call goes from t to t_next
  int64_t num_steps = 1;     ///< model calls per trajectory (schedule size - 1)
  double t = 1.0;            ///< schedule[step]
  double t_next = 0.0;       ///< schedule[step + 1]
  int64_t first_sample = 0;  ///< row 0 of the batch is this held-out/calibration sample
  int64_t count = 1;         ///< rows in the batch
};

/// x_t -> x_{t_next} from the model's output v. Later samplers (PTQD's corrected update, HTG's
/// per-step parameters) replace or wrap this piece, not the trajectory loop.
class UpdateRule {
 public:
  virtual ~UpdateRule() = default;
  virtual std::string name() const = 0;
  /// x: [B, ...] at ctx.t in the model dtype; v: the model output, same shape. Returns x at
  /// ctx.t_next (same shape, dtype, device).
  virtual at::Tensor update(const at::Tensor& x, const at::Tensor& v, const StepContext& ctx) const = 0;
};

/// Flow-matching Euler: x + (t_next - t) * v, the step size in double and the product and sum in
/// the model dtype (BFL's `img + (t_prev - t_curr) * pred`; bit-identical to flux_sample).
class EulerUpdate final : public UpdateRule {
 public:
  std::string name() const override { return "euler"; }
  at::Tensor update(const at::Tensor& x, const at::Tensor& v, const StepContext& ctx) const override;
};

/// One-step models: the result is the model's output itself.
class OutputUpdate final : public UpdateRule {
 public:
  std::string name() const override { return "output"; }
  at::Tensor update(const at::Tensor&, const at::Tensor& v, const StepContext&) const override { return v; }
};

}  // namespace pqlab
