// The one trajectory loop of pqlab: every model, every pass (full precision, variants,
// calibration, `pqlab sample`) goes through run_trajectory, so a step-level method (per-step
// statistics, teacher forcing, a corrected update) is written once for all models.
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>

#include "framework/interfaces/step.h"

namespace pqlab {

class ModelAdapter;

/// Observers of one trajectory. before_call runs before each model call (taps that key records
/// by [site, step] read ctx here); after_call sees the call's input x_t and output v before the
/// update. input_at lets a caller replace x_t before the call (teacher forcing: the full-precision
/// trajectory's latent); it returns an undefined tensor to keep the trajectory's own x_t.
struct TrajectoryHooks {
  std::function<void(const StepContext&)> before_call;
  std::function<void(const StepContext&, const at::Tensor& x, const at::Tensor& v)> after_call;
  std::function<at::Tensor(const StepContext&)> input_at;
};

/// Runs model.schedule() from x0 (rows of model.sample_inputs(); row r is sample first_sample + r)
/// and returns the final x: [B, ...] in the model dtype and device. One model call per step.
at::Tensor run_trajectory(ModelAdapter& model, const at::Tensor& x0, int64_t first_sample,
                          const TrajectoryHooks& hooks = {});

}  // namespace pqlab
