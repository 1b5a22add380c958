// FLUX.1 flow-matching Euler sampler, as BFL's sampling.py (get_noise, prepare, get_schedule,
// denoise, unpack) and diffusers' FluxPipeline + FlowMatchEulerDiscreteScheduler compute it.
// Spec: ../shared/reference/models.md 1.9 (packing), 1.10 (dtypes), 2.2-2.4 (noise, schedule, Euler).
//
// Precision, step by step (the BFL reference runs the whole loop in the model dtype):
//   schedule   computed in double and rounded once to float (diffusers: float64 numpy -> float32
//              sigmas; BFL evaluates the same formula in float32, <= 1e-7 away)
//   x          kept in the model dtype between steps (both references)
//   t, g       full([B], t_curr) / full([B], guidance) in the model dtype (BFL), so a bf16 model
//              sees bf16(t) and bf16(g), then 1000 * t in bf16 inside the transformer (1.10)
//   Euler      x = x + (t_prev - t_curr) * v in the model dtype with a double step size, as BFL
//              does: two roundings in bf16 (scale, then add). diffusers upcasts x to fp32 for the
//              update and rounds once; the two differ by <= 1 bf16 ulp per step, not at all in fp32.
// Tests: tests/models/flux_sampler_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace pqlab::models {

class FluxTransformer;
struct FluxConditioning;

/// mu of the resolution-dependent shift: the line through (256, base_shift) and
/// (4096, max_shift), evaluated at image_seq_len (BFL get_lin_function; diffusers calculate_shift).
double flux_shift_mu(int64_t image_seq_len, double base_shift = 0.5, double max_shift = 1.15);

/// The steps + 1 sigmas t_0 = 1 > ... > t_steps = 0 (BFL get_schedule): linspace(1, 0, steps + 1),
/// then, when `shift` (FLUX.1-dev; never schnell), t -> exp(mu) / (exp(mu) + (1/t - 1)^1) with
/// mu = flux_shift_mu(image_seq_len, ...). image_seq_len = packed image tokens (H/16)(W/16).
/// Throws UsageError when steps < 1 or image_seq_len < 1.
std::vector<float> flux_schedule(int steps, int64_t image_seq_len, bool shift, double base_shift = 0.5,
                                 double max_shift = 1.15);

/// Packs latents [B, C, H, W] (H, W even) into tokens [B, (H/2)(W/2), 4C]:
/// "b c (h ph) (w pw) -> b (h w) (c ph pw)", token = row * (W/2) + col, feature = c * 4 + dy * 2 + dx.
/// Any dtype and device. Throws UsageError for an odd H or W or a tensor that is not 4-D.
at::Tensor flux_pack_latents(const at::Tensor& latents);

/// Inverse of flux_pack_latents: [B, (H/2)(W/2), 4C] -> [B, C, H, W] for latent height H and
/// width W. Throws UsageError when the shape does not fit H and W.
at::Tensor flux_unpack_latents(const at::Tensor& packed, int64_t latent_height, int64_t latent_width);

/// Image position ids [(H/2)(W/2), 3], fp32 on the CPU, row-major tokens: (0, row, col).
at::Tensor flux_img_ids(int64_t latent_height, int64_t latent_width);

/// Standard-normal latent noise [count, channels, H, W], fp32 on the CPU, from a CPU generator
/// seeded with `seed`, drawn sample by sample so sample i does not depend on `count`.
/// The values are torch.randn([count, C, H, W], generator=torch.Generator("cpu").manual_seed(seed))
/// in fp32 (when C*H*W is a multiple of 16, as for every FLUX latent), cast to the model dtype
/// by the caller. This is not torch's CUDA RNG stream, nor a bf16 draw: BFL draws its noise on the
/// GPU in bf16 and diffusers in the pipeline dtype on the generator's device, so a seed gives
/// other latents than those pipelines do. It gives the same latents on every pqlab device.
at::Tensor flux_noise(int64_t count, int64_t channels, int64_t latent_height, int64_t latent_width, uint64_t seed);

/// Runs the Euler loop (models.md 2.4): for each (t_curr, t_prev) of `timesteps`,
/// v = model(img = x, timesteps = t_curr, guidance when the model has a guidance embedding) and
/// x = x + (t_prev - t_curr) * v, starting from x = noise_packed in the model dtype and device.
///   cond          B rows (txt [B, L_txt, context], y [B, vec], txt_ids [L_txt, 3]), or 1 row used
///                 for every sample
///   noise_packed  [B, L_img, in_channels]
///   img_ids       [L_img, 3] (flux_img_ids)
///   timesteps     flux_schedule(...), at least 2 values
/// Returns the final packed latents [B, L_img, in_channels] in the model dtype, on its device.
/// Makes the same sequence of linear-site calls on every call (steps x one transformer forward).
at::Tensor flux_sample(const FluxTransformer& model, const FluxConditioning& cond, const at::Tensor& noise_packed,
                       const at::Tensor& img_ids, const std::vector<float>& timesteps, float guidance);

}  // namespace pqlab::models
