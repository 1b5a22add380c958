// A model adapter: builds/loads a model, exposes its quantizable linear sites by semantic key,
// and answers one model call at a time (the step-level contract of framework/interfaces/step.h:
// the runner drives the trajectory, framework/experiment/trajectory.h). Constructors stay cheap
// (config only) so `pqlab validate` loads nothing heavy; load() does the heavy work.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "framework/interfaces/permutation_site.h"
#include "framework/interfaces/step.h"

namespace pqlab {
namespace config { class ConfigIo; }
class LinearSite;

class ModelAdapter {
 public:
  virtual ~ModelAdapter() = default;
  virtual void map_config(config::ConfigIo& io) = 0;
  virtual std::string describe() const = 0;

  /// Builds or loads the weights. Deterministic given the config.
  virtual void load() = 0;
  /// All quantizable linear layers, in execution order. Valid after load().
  virtual std::vector<LinearSite*> linear_sites() = 0;

  /// A batch of model inputs drawn deterministically from `seed`; first dim = `count`.
  /// (Diffusion adapters: the initial noise of each sample, x at schedule()[0].)
  virtual at::Tensor sample_inputs(int64_t count, uint64_t seed) const = 0;
  /// Time values t_0, t_1, ..., t_S of a trajectory: S model calls. Valid after load().
  /// Plain networks: {1, 0} (one call).
  virtual std::vector<double> schedule() const = 0;
  /// One model call: the model's output (diffusion: the velocity) for x at step ctx.step.
  /// x: [B, ...] rows of sample_inputs' shape in the model dtype/device; row r is sample
  /// ctx.first_sample + r, which conditioned adapters use to pick its prompt/class. Returns the
  /// output with x's shape (diffusion) or the network's output shape (one-step models).
  virtual at::Tensor velocity(const at::Tensor& x, const StepContext& ctx) = 0;
  /// The sampler's update from x_t to x_{t_next} (Euler for FLUX; "output" for one-step models).
  virtual const UpdateRule& update_rule() const = 0;

  /// Images of trajectory results (run_trajectory's outputs), for image metrics and PNG grids: [B, C, H, W] float32 on the
  /// CPU, values in [0, 1]. Undefined tensor when the outputs are not images (e.g. FLUX latents
  /// without a VAE decoder); the runner then skips the image stage.
  virtual at::Tensor to_images(const at::Tensor& /*outputs*/) const { return {}; }
  /// Other views of trajectory results worth saving next to them, by name (FLUX: "latents",
  /// unpacked to [N, 16, H/8, W/8] for a VAE). outputs: float32 on the CPU, as run_trajectory
  /// returned them; the views are float32 on the CPU too.
  virtual std::vector<std::pair<std::string, at::Tensor>> output_views(const at::Tensor& /*outputs*/) const { return {}; }
  /// The prompt (class-conditional models: the class name) of samples first .. first + count - 1;
  /// empty when the model is unconditional.
  virtual std::vector<std::string> prompts(int64_t /*first_sample*/, int64_t /*count*/) const { return {}; }

  /// Where channel permutations can be absorbed (framework/interfaces/permutation_site.h); keys
  /// as linear_sites(). Valid after load(); empty when the adapter declares none.
  virtual std::vector<PermutationSite> permutation_sites() const { return {}; }

  virtual std::string device() const = 0;  ///< "cpu", "cuda", ...
  virtual std::string dtype() const = 0;   ///< "fp32", "bf16", ...
};

}  // namespace pqlab
