// The built-in Fashion-MNIST FLUX (fp32, CPU, few steps) and a calibration of it, for tests of
// what methods do at its permutation sites.
#pragma once
#include <ATen/ATen.h>

#include <memory>
#include <string>

#include "framework/experiment/calibration.h"
#include "framework/experiment/trajectory.h"
#include "framework/interfaces/model_adapter.h"
#include "tests/common/plugins.h"

namespace pqlab::test {

inline std::shared_ptr<ModelAdapter> builtin_flux(int steps = 3) {
  auto m = make_plugin<ModelAdapter>(builtin(),
      "{adapter: flux, checkpoint: models/fmnist/flux_fmnist.safetensors, dtype: fp32, device: cpu, axes_dim: [8, 12, 12], "
      "width: 32, height: 32, latent_downsample: 1, image_crop: 2, steps: " + std::to_string(steps) + ", shift: off}");
  m->load();
  return m;
}

/// Statistics at every linear site of `m` over `samples` full-precision trajectories (one bucket
/// per step), with a reservoir of `keep_rows` input rows, as the runner collects them.
inline Calibration calibrate_all(ModelAdapter& m, int64_t samples, int64_t keep_rows, uint64_t seed = 11) {
  const int64_t steps = static_cast<int64_t>(m.schedule().size()) - 1;
  CalibrationCollector c(m.linear_sites(), {}, steps, keep_rows, seed);
  StepContext current;
  c.arm(&current);
  TrajectoryHooks hooks;
  hooks.before_call = [&current](const StepContext& ctx) { current = ctx; };
  run_trajectory(m, m.sample_inputs(samples, seed), 0, hooks);
  c.disarm();
  return c.finish();
}

/// Relative L2 difference ||a - b|| / ||b|| in float64.
inline double rel_l2(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor d = a.to(at::kDouble) - b.to(at::kDouble);
  return std::sqrt(d.pow(2).sum().item<double>() / b.to(at::kDouble).pow(2).sum().item<double>());
}

}  // namespace pqlab::test
