// FLUX.1 flow-matching Euler sampler; see flux_sampler.h for the reference and the precision notes.
#include "models/flux/flux_sampler.h"

#include <ATen/ATen.h>

#include <cmath>
#include <string>

#include "framework/core/text.h"
#include "framework/core/error.h"
#include "models/flux/flux_conditioning.h"
#include "models/flux/flux_transformer.h"

namespace pqlab::models {
double flux_shift_mu(int64_t image_seq_len, double base_shift, double max_shift) {
  // BFL get_lin_function(x1=256, y1=base_shift, x2=4096, y2=max_shift), same operation order.
  const double m = (max_shift - base_shift) / (4096.0 - 256.0);
  const double b = base_shift - m * 256.0;
  return m * static_cast<double>(image_seq_len) + b;
}

std::vector<float> flux_schedule(int steps, int64_t image_seq_len, bool shift, double base_shift, double max_shift) {
  if (steps < 1) throw UsageError("FLUX schedule: steps must be >= 1, got " + std::to_string(steps));
  if (image_seq_len < 1)
    throw UsageError("FLUX schedule: image_seq_len must be >= 1, got " + std::to_string(image_seq_len));
  const double mu = flux_shift_mu(image_seq_len, base_shift, max_shift);
  const double e = std::exp(mu);
  std::vector<float> t(static_cast<size_t>(steps) + 1);
  for (int i = 0; i <= steps; ++i) {
    // linspace(1, 0, steps + 1); the end points are exact.
    double s = i == steps ? 0.0 : 1.0 - static_cast<double>(i) / static_cast<double>(steps);
    // time_shift(mu, sigma = 1, t): 1/t - 1 is +inf at t = 0, giving 0 as in the reference.
    if (shift && s > 0.0) s = e / (e + (1.0 / s - 1.0));
    t[static_cast<size_t>(i)] = static_cast<float>(s);
  }
  return t;
}

at::Tensor flux_pack_latents(const at::Tensor& x) {
  if (x.dim() != 4 || x.size(2) % 2 != 0 || x.size(3) % 2 != 0)
    throw UsageError("FLUX latents to pack must be [B, C, H, W] with even H and W, got " + shape_str(x));
  const int64_t B = x.size(0), C = x.size(1), h = x.size(2) / 2, w = x.size(3) / 2;
  // b c (h ph) (w pw) -> b (h w) (c ph pw)
  return x.reshape({B, C, h, 2, w, 2}).permute({0, 2, 4, 1, 3, 5}).reshape({B, h * w, C * 4});
}

at::Tensor flux_unpack_latents(const at::Tensor& p, int64_t latent_height, int64_t latent_width) {
  if (latent_height < 2 || latent_width < 2 || latent_height % 2 != 0 || latent_width % 2 != 0)
    throw UsageError("FLUX latent height and width must be even and >= 2, got " + std::to_string(latent_height) +
                     " x " + std::to_string(latent_width));
  const int64_t h = latent_height / 2, w = latent_width / 2;
  if (p.dim() != 3 || p.size(1) != h * w || p.size(2) % 4 != 0)
    throw UsageError("packed FLUX latents " + shape_str(p) + " do not fit a " + std::to_string(latent_height) + " x " +
                     std::to_string(latent_width) + " latent (expected [B, " + std::to_string(h * w) + ", 4C])");
  const int64_t B = p.size(0), C = p.size(2) / 4;
  // b (h w) (c ph pw) -> b c (h ph) (w pw)
  return p.reshape({B, h, w, C, 2, 2}).permute({0, 3, 1, 4, 2, 5}).reshape({B, C, latent_height, latent_width});
}

at::Tensor flux_img_ids(int64_t latent_height, int64_t latent_width) {
  if (latent_height < 2 || latent_width < 2 || latent_height % 2 != 0 || latent_width % 2 != 0)
    throw UsageError("FLUX latent height and width must be even and >= 2, got " + std::to_string(latent_height) +
                     " x " + std::to_string(latent_width));
  const int64_t h = latent_height / 2, w = latent_width / 2;
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  at::Tensor ids = at::zeros({h, w, 3}, f32);
  ids.select(2, 1).copy_(at::arange(h, f32).unsqueeze(1).expand({h, w}));
  ids.select(2, 2).copy_(at::arange(w, f32).unsqueeze(0).expand({h, w}));
  return ids.reshape({h * w, 3});
}

at::Tensor flux_noise(int64_t count, int64_t channels, int64_t latent_height, int64_t latent_width, uint64_t seed) {
  if (count < 0 || channels < 1 || latent_height < 1 || latent_width < 1)
    throw UsageError("FLUX noise: bad shape [" + std::to_string(count) + ", " + std::to_string(channels) + ", " +
                     std::to_string(latent_height) + ", " + std::to_string(latent_width) + "]");
  auto gen = at::detail::createCPUGenerator(seed);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  if (count == 0) return at::empty({0, channels, latent_height, latent_width}, f32);
  std::vector<at::Tensor> rows;
  for (int64_t i = 0; i < count; ++i)
    rows.push_back(at::normal(0.0, 1.0, {1, channels, latent_height, latent_width}, gen, f32));
  return at::cat(rows, 0);
}

at::Tensor flux_sample(const FluxTransformer& model, const FluxConditioning& cond, const at::Tensor& noise_packed,
                       const at::Tensor& img_ids, const std::vector<float>& timesteps, float guidance) {
  const FluxParams& p = model.params();
  if (timesteps.size() < 2)
    throw UsageError("FLUX sampling needs at least 2 timesteps (one step), got " + std::to_string(timesteps.size()));
  if (!noise_packed.defined() || noise_packed.dim() != 3 || noise_packed.size(2) != p.in_channels)
    throw RuntimeError("FLUX sampling: noise must be packed latents [B, L_img, " + std::to_string(p.in_channels) +
                       "], got " + (noise_packed.defined() ? shape_str(noise_packed) : std::string("none")));
  const int64_t B = noise_packed.size(0);
  if (!cond.txt.defined() || !cond.y.defined())
    throw RuntimeError("FLUX sampling: the conditioning has no txt/y tensors");
  const int64_t N = cond.txt.size(0);
  if (N != B && N != 1)
    throw RuntimeError("FLUX sampling: " + std::to_string(B) + " noise rows but " + std::to_string(N) +
                       " conditioning rows (give one row per sample, or one for all)");

  const at::ScalarType dt = model.dtype();
  const at::TensorOptions opts = at::TensorOptions().dtype(dt).device(model.device());
  FluxInputs in;
  in.txt = N == B ? cond.txt : cond.txt.expand({B, -1, -1});
  in.y = N == B ? cond.y : cond.y.expand({B, -1});
  in.txt_ids = cond.txt_ids.to(model.device());  // both ids on one device (they are concatenated)
  in.img_ids = img_ids.to(model.device());
  // BFL: guidance_vec = full((B,), guidance, dtype=img.dtype); ignored (not passed) without guidance_in.
  if (p.guidance_embed) in.guidance = at::full({B}, static_cast<double>(guidance), opts);

  at::Tensor x = noise_packed.to(model.device(), dt);
  for (size_t i = 0; i + 1 < timesteps.size(); ++i) {
    const double t_curr = timesteps[i], t_prev = timesteps[i + 1];
    in.img = x;
    in.timesteps = at::full({B}, t_curr, opts);  // BFL: full((B,), t_curr, dtype=img.dtype)
    const at::Tensor v = model.forward(in);
    x = x + v * (t_prev - t_curr);  // BFL: img + (t_prev - t_curr) * pred, in the model dtype
  }
  return x;
}

}  // namespace pqlab::models
