// FLUX.1 [dev]/[schnell] transformer forward pass in libtorch, reproducing the diffusers
// FluxTransformer2DModel / BFL Flux.forward math (../shared/reference/models.md 1.2-1.10).
// Every linear layer is a pqlab::LinearSite with a semantic key:
//   embed.img_in  embed.txt_in  embed.{time,vector,guidance}.{in,out}       role embed
//   double.N.{img,txt}.mod                                                  role modulation
//   double.N.{img,txt}.attn.qkv   (fused [q; k; v] rows)                    role attn_qkv
//   double.N.{img,txt}.attn.proj                                            role attn_out
//   double.N.{img,txt}.mlp.up  /  .mlp.down                                 role mlp_up / mlp_down
//   single.N.mod                                                            role modulation
//   single.N.linear1  (rows [q; k; v; mlp up])                              role single_linear1
//   single.N.linear2  (cols [attn out | gelu(mlp up)])                      role single_linear2
//   final.adaLN  (rows [shift; scale], BFL order)                           role final_modulation
//   final.linear                                                            role final
// Tests: tests/models/flux_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/flux/flux_params.h"
#include "models/flux/flux_weights.h"

namespace pqlab {
class LinearSite;

namespace models {

/// One forward's inputs. Floating inputs are cast to the model dtype/device inside; ids stay fp32.
struct FluxInputs {
  at::Tensor img;        ///< [B, L_img, in_channels] packed latents
  at::Tensor img_ids;    ///< [L_img, 3] (shared by the batch) or [B, L_img, 3]
  at::Tensor txt;        ///< [B, L_txt, context_in_dim]
  at::Tensor txt_ids;    ///< [L_txt, 3] or [B, L_txt, 3] (zeros for text-to-image)
  at::Tensor y;          ///< [B, vec_in_dim] pooled text embedding
  at::Tensor timesteps;  ///< [B] sigma in [0, 1]; multiplied by 1000 inside, in the model dtype
  at::Tensor guidance;   ///< [B] guidance scale (e.g. 3.5); required if params().guidance_embed, else ignored
};

class FluxTransformer {
 public:
  /// Takes the tensors of `w` (BFL layout, already in the compute dtype and device).
  FluxTransformer(const FluxParams& p, const FluxWeights& w);
  ~FluxTransformer();
  FluxTransformer(const FluxTransformer&) = delete;
  FluxTransformer& operator=(const FluxTransformer&) = delete;

  const FluxParams& params() const { return p_; }
  at::ScalarType dtype() const { return dtype_; }
  at::Device device() const { return device_; }

  /// All linear sites in execution order (embedders, then per block, then final layer).
  std::vector<LinearSite*> linear_sites();
  /// The site with `key`; RuntimeError naming it otherwise.
  LinearSite& site(const std::string& key);

  /// Returns the velocity prediction [B, L_img, out_channels] in the model dtype.
  /// intermediates, when given, receives (model dtype, except rope.* fp32): x_embedder, temb,
  /// context_embedder [B, L_txt, H], rope.0 / rope.1 (cos / sin, [L, head_dim] or [B, L, head_dim],
  /// text tokens first, each angle repeated for its pair), double.N.0 / double.N.1 (text / image
  /// stream after double block N), single.N.0 / single.N.1 (text / image part after single
  /// block N), norm_out (final LayerNorm + adaLN, before final.linear).
  /// Throws RuntimeError naming the input when a shape does not fit the model.
  at::Tensor forward(const FluxInputs& in, std::map<std::string, at::Tensor>* intermediates = nullptr) const;

 private:
  struct Stream;
  struct DoubleBlock;
  struct SingleBlock;
  LinearSite* add_site(const FluxWeights& w, const std::string& key, const std::string& role, const std::string& bfl);
  at::Tensor mlp_embed(const LinearSite* in, const LinearSite* out, const at::Tensor& x) const;

  FluxParams p_;
  at::ScalarType dtype_;
  at::Device device_;
  std::vector<std::unique_ptr<LinearSite>> sites_;
  LinearSite *img_in_, *txt_in_, *time_in_, *time_out_, *vector_in_, *vector_out_;
  LinearSite *guidance_in_ = nullptr, *guidance_out_ = nullptr, *final_mod_, *final_linear_;
  std::vector<std::unique_ptr<DoubleBlock>> double_;
  std::vector<std::unique_ptr<SingleBlock>> single_;
};

/// Opens a checkpoint (file, index file or folder; see open_checkpoint), infers its params
/// (config.json next to it supplies and cross-checks axes_dim; `axes_dim` overrides), loads and
/// converts the weights, and builds the model.
std::unique_ptr<FluxTransformer> load_flux_transformer(const std::string& checkpoint, at::ScalarType dtype,
                                                       at::Device device, const std::vector<int64_t>& axes_dim = {});

}  // namespace models
}  // namespace pqlab
