// Held-out evaluation per timestep, on top of run_trajectory:
//   reference   the full-precision trajectory of every held-out sample, computed once per run
//   teacher-forced  at each step the reference latent feeds both models; per [site, step] the
//               isolated error (the site's own quantization on the full-precision model's input
//               to that site) and the propagated error (the site's output inside the quantized
//               model against the full-precision model's), and per [sample, step] the velocity
//               error; each relative MSE = sum of squared error / sum of squared reference
//   free-running  the variant's own trajectory from the same noise: latent error per [sample, step]
// Memory: one step of one batch of site outputs at a time (the propagated error needs the
// full-precision outputs of every site for that call); sums stay on the device until the end.
// Tests: tests/framework/experiment/step_evaluation_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>
#include <vector>

#include "framework/interfaces/step.h"
#include "framework/quant/linear_site.h"

namespace pqlab {

class ModelAdapter;

/// Called after every model call (progress reporting).
using StepCallback = std::function<void(const StepContext&)>;

/// x_t of every step of the full-precision trajectories: [S + 1] tensors [N, ...] (entry 0 = x0,
/// entry S = the result). The model must be in full precision.
std::vector<at::Tensor> reference_trajectory(ModelAdapter& model, const at::Tensor& x0, int64_t batch,
                                            const StepCallback& on_call = {});

struct TeacherForcedErrors {
  at::Tensor isolated_err;    ///< [L, S] float64 sums of squared error, per site and step
  at::Tensor propagated_err;  ///< [L, S] (NaN when not measured)
  at::Tensor site_ref;        ///< [L, S] sums of squared full-precision site output
  at::Tensor velocity_rel_mse;  ///< [n, S] per sample and step
  at::Tensor velocity_cosine;   ///< [n, S]
};

/// Teacher-forced errors on the first n samples of `ref`, `batch` samples per call. fp / quant:
/// the sites' states (LinearSite::state()) in full precision and in the variant, in site order;
/// the model is left in `quant`. propagated = false skips the propagated error and the records
/// it needs (half the passes' memory for large models).
TeacherForcedErrors evaluate_teacher_forced(ModelAdapter& model, const std::vector<LinearSite*>& sites,
                                            const std::vector<SiteState>& fp, const std::vector<SiteState>& quant,
                                            const std::vector<at::Tensor>& ref, int64_t n, int64_t batch,
                                            bool propagated, const StepCallback& on_call = {});

struct FreeRunning {
  at::Tensor result;          ///< [N, ...] the variant's trajectory results
  at::Tensor latent_rel_mse;  ///< [N, S] x after step s + 1 against the reference, float64
};

/// The model's (current state's) own trajectories from ref[0], compared with the reference.
FreeRunning evaluate_free_running(ModelAdapter& model, const std::vector<at::Tensor>& ref, int64_t batch,
                                  const StepCallback& on_call = {});

/// Per-sample relative MSE and cosine similarity of a against the reference b, float64 [B].
at::Tensor per_sample_rel_mse(const at::Tensor& a, const at::Tensor& b);
at::Tensor per_sample_cosine(const at::Tensor& a, const at::Tensor& b);

}  // namespace pqlab
