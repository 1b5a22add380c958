// The `flux` model adapter (models/flux.cpp): a FLUX.1 [dev]/[schnell] transformer and its Euler
// sampler behind the ModelAdapter interface, so `pqlab run` quantizes FLUX like any model:
//   sample_inputs(count, seed)  packed latent noise [count, L_img, in_channels]
//   schedule(), velocity(x, ctx) one transformer call at step ctx.step, prompt (first + r) % N
//   update_rule()               Euler; the runner's run_trajectory drives the steps
// Declared here (not hidden in flux.cpp) so FLUX-specific callers (`pqlab sample`, tests, later
// PermuQuant) can reach the transformer and the geometry.
// Tests: tests/models/flux_plugin_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "framework/registry/registries.h"
#include "models/flux/flux_conditioning.h"
#include "models/flux/flux_params.h"

namespace pqlab::models {

class FluxTransformer;

struct FluxConfig {
  std::string checkpoint;       ///< file, *.index.json or folder (see open_checkpoint)
  std::string dtype = "bf16";
  std::string device = "cpu";
  std::vector<int64_t> axes_dim;  ///< empty = config.json next to the weights, else (16, 56, 56)
  std::string conditioning;     ///< safetensors of txt/y/prompts (flux_conditioning.h)
  int64_t width = 1024, height = 1024;  ///< pixels, multiples of 16
  int64_t steps = 28;
  double guidance = 3.5;
  std::string shift = "auto";   ///< auto | on | off
  int64_t latent_downsample = 8;  ///< pixels per latent pixel: 8 (FLUX's VAE) or 1 (pixel space)
  int64_t image_crop = 0;         ///< border cut from pixel-space images (fmnist: 2, 32 -> 28)
  template <class IO> static void map(IO& io, FluxConfig& c) {
    io.field("checkpoint", c.checkpoint,
             "transformer weights: .safetensors file (BFL or diffusers names), *.index.json, or folder; "
             "relative paths resolve against the working directory",
             config::required());
    io.field("dtype", c.dtype, "compute dtype (the reference runs bf16)", config::one_of({"fp32", "bf16"}));
    io.field("device", c.device, "device to run on", config::one_of({"cpu", "cuda"}));
    io.field("axes_dim", c.axes_dim, "RoPE dims per id axis; empty = from config.json next to the weights, else 16,56,56");
    io.field("conditioning", c.conditioning,
             "safetensors with txt [N, L, 4096], y [N, 768] and metadata 'prompts' "
             "(scripts/make_flux_conditioning.py); empty = the checkpoint's built-in conditioning "
             "(conditioning.txt / conditioning.y, e.g. the Fashion-MNIST class table); required for sampling");
    io.field("width", c.width, "image width in pixels (multiple of 2 * latent_downsample)", config::in_range(2, 16384));
    io.field("height", c.height, "image height in pixels (multiple of 2 * latent_downsample)", config::in_range(2, 16384));
    io.field("latent_downsample", c.latent_downsample,
             "pixels per latent pixel: 8 for FLUX.1's VAE latents, 1 for a pixel-space model (the built-in "
             "Fashion-MNIST model), whose sampler output is the image in [-1, 1]",
             config::in_range(1, 64));
    io.field("image_crop", c.image_crop, "pixels cut from every border of a pixel-space image (padding used in training)",
             config::in_range(0, 4096));
    io.field("steps", c.steps, "Euler steps (transformer calls per sample)", config::in_range(1, 1000));
    io.field("guidance", c.guidance, "embedded guidance scale (only models with a guidance embedding, i.e. dev)",
             config::in_range(0, 100));
    io.field("shift", c.shift, "resolution-dependent timestep shift; auto = on with a guidance embedding (dev), off otherwise (schnell)",
             config::one_of({"auto", "on", "off"}));
    // Each image token is a 2x2 patch of latent pixels, i.e. m x m image pixels: a width or height
    // below m gives zero tokens, one not divisible by m a fractional count. Refused here, before
    // any tensor is made (the sampler would otherwise fail inside ATen).
    const int64_t m = 2 * std::max<int64_t>(c.latent_downsample, 1);
    for (const auto& [key, v] : std::initializer_list<std::pair<const char*, int64_t>>{{"width", c.width},
                                                                                     {"height", c.height}}) {
      io.check(v >= m && v % m == 0, key,
               "'" + std::string(key) + "' " + std::to_string(v) + " with 'latent_downsample' " +
                   std::to_string(c.latent_downsample) + " gives " + std::to_string(v / m) +
                   (v % m == 0 ? "" : " and a fraction") + " image tokens per " +
                   (key[0] == 'w' ? "row" : "column") + ": it must be a positive multiple of " + std::to_string(m) +
                   " (2 x latent_downsample)");
    }
    io.check(2 * c.image_crop < std::min(c.width, c.height), "image_crop", "'image_crop' leaves no pixels");
    bool positive = true;
    for (int64_t d : c.axes_dim) positive = positive && d > 0 && d % 2 == 0;
    io.check(positive, "axes_dim", "'axes_dim' entries must be positive even integers");
  }
};

/// FLUX's permutation sites (framework/interfaces/permutation_site.h). The algebra of each kind
/// (BFL math of models.md 1.6-1.7; keys as FluxTransformer's sites), and the blocks it gives:
///
/// "norm_mod"  consumer double.N.{img,txt}.attn.qkv / .mlp.up, single.N.linear1; producer the
///   modulation linear of that stream (double.N.{img,txt}.mod, single.N.mod). The input is
///   u = (1 + scale) * LN(h) + shift, and P u = (1 + P scale) * P LN(h) + P shift: permute the
///   shift and scale rows (weight and bias) of the producer, chunks 0 and 1 (of 6) before the
///   attention qkv / single linear1, chunks 3 and 4 before mlp.up. LayerNorm statistics are
///   permutation invariant, so P LN(h) is the norm's output written in P order: free inside a
///   fused norm+modulation kernel, but a gather in the simulation, because the residual stream h
///   itself stays in model order. group 0: any permutation of the hidden_size channels.
///
/// "attn_v_heads"  consumers double.N.img.attn.proj and double.N.txt.attn.proj; producer
///   double.N.img.attn.qkv, coupled producer double.N.txt.attn.qkv. Head h's output is
///   softmax(q_h k_h^T / sqrt(D)) v_h, linear in v_h along tokens only, so permuting v_h's D
///   channels permutes a_h's the same way: permute qkv rows 2H + h*D + [0, D) (v is neither
///   normalized nor rotated) and proj input columns h*D + [0, D). The attention is joint over
///   text and image tokens, so each stream's output mixes both streams' v: both qkv layers must
///   take the same P, and both proj layers take it. group = head_dim: P maps each head's
///   channels onto themselves (moving whole heads would also need q and k moved; not offered).
///
/// "mlp"  consumer double.N.{img,txt}.mlp.down; producer double.N.{img,txt}.mlp.up. GELU is
///   elementwise: P gelu(W u + b) = gelu(P W u + P b). Permute the up rows and down columns.
///   group 0: any permutation of the mlp_hidden channels.
///
/// "single_linear1"  consumer single.N.linear2; producer single.N.linear1. linear2 reads
///   cat(attention [H], gelu(mlp part) [M]); both parts come from linear1 rows: the attention
///   part through v (rows 2H + h*D + [0, D) <-> linear2 columns h*D + [0, D), per head as in
///   attn_v_heads, text and image tokens sharing the weights), the MLP part through GELU
///   (rows 3H + [0, M) <-> columns H + [0, M), any permutation). No channel crosses between the
///   parts. group = head_dim applies to the attention part [0, H); the MLP part [H, H + M) is free.

/// Every permutation site of a FLUX transformer with params `p`, per double block
/// (img qkv, txt qkv, v->proj, img mlp.up, img mlp, txt mlp.up, txt mlp), then per single block
/// (linear1, linear1->linear2). All keys are FluxTransformer linear-site keys.
/// Blocks: norm_mod rows (shift and scale chunks) -> columns [0, H), needs_gather; attn_v_heads
/// rows 2H + [0, H) -> [0, H), group D; mlp rows [0, M) -> [0, M); single_linear1 rows
/// 2H + [0, H) -> [0, H) (group D) and 3H + [0, M) -> H + [0, M).
std::vector<PermutationSite> flux_permutation_sites(const FluxParams& p);

class FluxAdapter final : public ConfiguredPlugin<ModelAdapter, FluxConfig> {
 public:
  explicit FluxAdapter(const FluxConfig& c);  ///< stores the config; loads nothing
  ~FluxAdapter() override;

  std::string describe() const override;
  std::string device() const override { return cfg_.device; }
  std::string dtype() const override { return cfg_.dtype; }
  /// Loads the transformer and the conditioning, builds the schedule and the image ids.
  /// RuntimeError for a missing/bad checkpoint or conditioning file, or CUDA unavailable.
  void load() override;
  std::vector<LinearSite*> linear_sites() override;
  /// Packed noise [count, L_img, in_channels] in the model dtype/device (flux_noise + pack).
  at::Tensor sample_inputs(int64_t count, uint64_t seed) const override;
  /// The FLUX schedule (flux_schedule: steps + 1 values from 1 to 0, shifted for dev).
  std::vector<double> schedule() const override;
  /// One transformer call: x [B, L_img, in_channels] packed latents at ctx.t; row r uses prompt
  /// (ctx.first_sample + r) % N. Returns the velocity, same shape, model dtype.
  at::Tensor velocity(const at::Tensor& x, const StepContext& ctx) override;
  /// Euler in the model dtype, as BFL's denoise loop.
  const UpdateRule& update_rule() const override;
  /// "latents": the packed outputs unpacked to [N, latent_channels, H/8, W/8].
  std::vector<std::pair<std::string, at::Tensor>> output_views(const at::Tensor& outputs) const override {
    return {{"latents", unpack(outputs)}};
  }

  // FLUX-specific; all valid after load() (RuntimeError before).
  const FluxTransformer& transformer() const;
  const FluxParams& params() const;
  /// Loaded conditioning on the model device/dtype (empty when 'conditioning' is not set).
  const FluxConditioning& conditioning() const { return cond_; }
  const std::vector<float>& timesteps() const { return timesteps_; }
  bool shift_enabled() const;
  int64_t latent_channels() const;  ///< in_channels / 4
  int64_t latent_height() const { return cfg_.height / cfg_.latent_downsample; }
  int64_t latent_width() const { return cfg_.width / cfg_.latent_downsample; }
  int64_t image_seq_len() const { return (latent_height() / 2) * (latent_width() / 2); }
  /// Packed [B, L_img, in_channels] -> [B, in_channels / 4, H/8, W/8].
  at::Tensor unpack(const at::Tensor& packed) const;
  /// The prompts of samples first_sample .. first_sample + count - 1.
  std::vector<std::string> prompts(int64_t first_sample, int64_t count) const override;
  /// Pixel-space models (latent_downsample 1): the unpacked output mapped from [-1, 1] to [0, 1],
  /// clamped, image_crop cut from each border: [B, C, H - 2 crop, W - 2 crop] float32 CPU.
  /// FLUX latents (latent_downsample 8) need the VAE decoder, which pqlab does not have yet:
  /// returns an undefined tensor.
  at::Tensor to_images(const at::Tensor& outputs) const override;
  std::vector<PermutationSite> permutation_sites() const override { return flux_permutation_sites(params()); }

 private:
  void require_loaded(const char* what) const;
  std::unique_ptr<FluxTransformer> model_;
  FluxConditioning cond_;
  std::vector<float> timesteps_;
  at::Tensor img_ids_;
};

}  // namespace pqlab::models
