// A model adapter: builds/loads a model, exposes its quantizable linear sites by semantic key,
// and runs it. Constructors stay cheap (config only) so `pqlab validate` loads nothing heavy;
// load() does the heavy work.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

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
  /// (Diffusion adapters: the initial noise of each sample.)
  virtual at::Tensor sample_inputs(int64_t count, uint64_t seed) const = 0;
  /// Runs the model (diffusion adapters: a whole sampling trajectory). inputs: rows of what
  /// sample_inputs returned; row i is sample `first_sample + i`, which adapters with
  /// conditioning use to pick its prompt/class. Returns the model output, first dim as inputs.
  virtual at::Tensor forward(const at::Tensor& inputs, int64_t first_sample) = 0;

  /// Images of forward()'s outputs, for image metrics and PNG grids: [B, C, H, W] float32 on the
  /// CPU, values in [0, 1]. Undefined tensor when the outputs are not images (e.g. FLUX latents
  /// without a VAE decoder); the runner then skips the image stage.
  virtual at::Tensor to_images(const at::Tensor& /*outputs*/) const { return {}; }
  /// The prompt (class-conditional models: the class name) of samples first .. first + count - 1;
  /// empty when the model is unconditional.
  virtual std::vector<std::string> prompts(int64_t /*first_sample*/, int64_t /*count*/) const { return {}; }

  virtual std::string device() const = 0;  ///< "cpu", "cuda", ...
  virtual std::string dtype() const = 0;   ///< "fp32", "bf16", ...
};

}  // namespace pqlab
