// FLUX.1 transformer weights in one internal layout: BFL checkpoint names (models.md 1.11)
// with fused tensors kept fused (double-block qkv, single-block linear1). Diffusers checkpoints
// are mapped per models.md 1.12: q/k/v concatenated by rows, single-block linear1 =
// rows of [to_q; to_k; to_v; proj_mlp], and the final adaLN halves swapped
// (diffusers [scale; shift] -> BFL [shift; scale]). Tests: tests/models/flux_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "models/flux/flux_params.h"

namespace pqlab {
class SafetensorsReader;

namespace models {

/// Every tensor of one FLUX transformer by BFL name (no "model.diffusion_model." prefix).
struct FluxWeights {
  std::map<std::string, at::Tensor> tensors;
  FluxKeyFormat source_format = FluxKeyFormat::bfl;

  /// The tensor `name`; RuntimeError naming it when absent.
  const at::Tensor& at(const std::string& name) const;
};

/// BFL name and shape of every tensor a model with params `p` has, in checkpoint order.
std::vector<std::pair<std::string, std::vector<int64_t>>> flux_tensor_shapes(const FluxParams& p);

/// Reads all tensors of `r` (key names `format`, optional prefix from flux_key_prefix) into the
/// BFL layout, converted to `dtype` (kFloat or kBFloat16 in practice) and moved to `device`.
/// Missing, unexpected, mis-shaped or non-floating tensors are reported together in ONE
/// RuntimeError (name, expected shape, got shape) that names `source`.
FluxWeights load_flux_weights(const SafetensorsReader& r, const FluxParams& p, FluxKeyFormat format,
                              at::ScalarType dtype, at::Device device, const std::string& source);

}  // namespace models
}  // namespace pqlab
