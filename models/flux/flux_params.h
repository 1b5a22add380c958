// FLUX.1 transformer hyper-parameters (BFL `FluxParams`), inferred from checkpoint tensor shapes
// and cross-checked against a config.json when one is given. Spec: ../shared/reference/models.md
// sections 1.1, 1.11, 1.12. Tests: tests/models/flux_test.cpp
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace pqlab {
class SafetensorsReader;

namespace models {

/// Key naming of a FLUX transformer checkpoint.
enum class FluxKeyFormat {
  bfl,        ///< flux1-dev.safetensors names: img_in, double_blocks.N.img_attn.qkv, ...
  diffusers,  ///< FluxTransformer2DModel names: x_embedder, transformer_blocks.N.attn.to_q, ...
};
const char* to_string(FluxKeyFormat f);

/// Field names and meanings follow BFL's `FluxParams` (flux/model.py).
struct FluxParams {
  int64_t in_channels = 64;       ///< packed latent channels (16 latent channels x 2x2)
  int64_t out_channels = 64;
  int64_t vec_in_dim = 768;       ///< pooled text embedding (CLIP-L)
  int64_t context_in_dim = 4096;  ///< text token embedding (T5-XXL)
  int64_t hidden_size = 3072;
  double mlp_ratio = 4.0;
  int64_t num_heads = 24;
  int64_t depth = 19;                ///< double-stream blocks
  int64_t depth_single_blocks = 38;  ///< single-stream blocks
  std::vector<int64_t> axes_dim = {16, 56, 56};  ///< RoPE dims per id axis; sum == head_dim
  double theta = 10000;
  bool qkv_bias = true;
  bool guidance_embed = true;  ///< FLUX.1-dev: true; schnell: false

  int64_t head_dim() const { return hidden_size / num_heads; }
  int64_t mlp_hidden() const { return static_cast<int64_t>(static_cast<double>(hidden_size) * mlp_ratio); }
  /// "hidden 3072 = 24 x 128, 19 double + 38 single blocks, ..." for logs.
  std::string describe() const;
};

/// Every key of a checkpoint may carry this prefix (ComfyUI-style single files); "" otherwise.
std::string flux_key_prefix(const SafetensorsReader& r);

/// Detects the key format and infers every FluxParams field from tensor shapes.
/// axes_dim cannot be read from weights; it is taken, in this order, from `axes_dim` when not
/// empty, from `config_json` when not empty (BFL `axes_dim` or diffusers `axes_dims_rope`; see
/// check_against_config_json for the accepted layouts), else FLUX's (16, 56, 56) when
/// head_dim == 128. Any other head_dim without an axes_dim is a UsageError asking for one.
/// theta is 10000 (hard-coded in diffusers) unless a BFL config states another.
/// A given config_json is also cross-checked against the inferred values.
/// Throws RuntimeError when the tensors are not a FLUX transformer or are inconsistent.
FluxParams infer_flux_params(const SafetensorsReader& r, FluxKeyFormat* format = nullptr,
                             const std::string& config_json = "", const std::vector<int64_t>& axes_dim = {});

/// Compares `p` with a config.json: a diffusers FluxTransformer2DModel config (num_layers,
/// attention_head_dim, axes_dims_rope, ...), a BFL FluxParams dump, or an object holding either
/// under "diffusers" / "bfl" (the golden data's config.json). Only keys present are checked.
/// Throws RuntimeError listing every disagreement; UsageError when the file cannot be parsed.
void check_against_config_json(const FluxParams& p, const std::string& config_json);

/// axes_dim stated by a config.json (see above), or empty when it states none.
std::vector<int64_t> axes_dim_from_config_json(const std::string& config_json);

}  // namespace models
}  // namespace pqlab
