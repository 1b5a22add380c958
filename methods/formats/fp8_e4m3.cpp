// Format `fp8_e4m3`: FP8 E4M3FN fake quantization, methods.md 9.2.
//
//   scaled:   s = amax/448 per group (fp32 division; amax == 0 -> s = 1; a nonzero s that
//             underflows to 0 -> 2^-149), q = e4m3_sat(x / s), x̂ = q * s
//   unscaled: x̂ = e4m3_sat(x) (group_size is ignored; scales = [[1]])
//
// e4m3_sat is PyTorch's c10 fp8e4m3fn_from_fp32_value rounding (round to nearest even) applied
// after clamping to ±448. PyTorch's own cast is NOT saturating: values in (464, 480) round up into
// the NaN code 0x7F and larger ones are NaN too. We clamp first, as TransformerEngine's reference
// does before `.to(torch.float8_e4m3fn)` and as CUDA `cvt.rn.satfinite.e4m3x2.f32` does.
//
// NaN/Inf policy (all formats): scales come from finite values only; NaN elements come out NaN
// (and encode to 0x7F|sign, E4M3's NaN code); ±Inf saturate to ±448 (0x7E|sign) before scaling
// back. bf16/fp16 inputs are upcast exactly and the result is cast back.
// Compiled with -ffp-contract=off (see CMakeLists.txt).
#include "methods/formats/fp8_e4m3.h"

#include <ATen/ATen.h>

#include <cmath>

#include "framework/core/error.h"
#include "framework/registry/registries.h"
#include "methods/formats/codecs.h"

namespace pqlab::methods {
namespace {

constexpr float kMinSubnormal = 1.40129846e-45f;  // 2^-149

/// Grouping actually used: an unscaled cast needs no groups, so it is per-tensor.
config::GroupSize effective_groups(const Fp8E4m3Config& c) {
  return c.scaled ? c.group_size : config::GroupSize(config::GroupSize::kTensor);
}

/// Per-group scale [R, Gn] (fast path).
at::Tensor scales_fast(const at::Tensor& gx, bool scaled) {
  if (!scaled) return at::ones({gx.size(0), gx.size(1)}, gx.options().dtype(at::kFloat));
  at::Tensor amax = finite_amax(gx, -1);
  at::Tensor s = at::div(amax, scalar_like(gx, codecs::kE4m3Max));
  s = at::where(s == 0, at::full_like(s, kMinSubnormal), s);
  return at::where(amax == 0, at::ones_like(s), s);
}

float scale_ref(float amax) {
  float s = amax / codecs::kE4m3Max;
  if (s == 0.0f) s = kMinSubnormal;
  if (amax == 0.0f) s = 1.0f;
  return s;
}

}  // namespace

Fp8E4m3Format::Fp8E4m3Format(const Fp8E4m3Config& c) : ConfiguredPlugin(c) {
  if (!valid_group_size(c.group_size)) throw UsageError("fp8_e4m3: invalid group_size");
}

std::string Fp8E4m3Format::describe() const {
  if (!cfg_.scaled) return "fp8_e4m3 unscaled";
  return "fp8_e4m3 " + group_label(cfg_.group_size);
}

double Fp8E4m3Format::bits_per_element() const {
  if (!cfg_.scaled || cfg_.group_size.value <= 0) return 8.0;
  return 8.0 + 32.0 / static_cast<double>(cfg_.group_size.value);
}

at::Tensor Fp8E4m3Format::fake_quant(const at::Tensor& x) const {
  GroupedView g = group_last_dim(x, effective_groups(cfg_), cfg_.pad, "fp8_e4m3");
  at::Tensor s3 = scales_fast(g.x, cfg_.scaled).unsqueeze(-1);
  at::Tensor q = codecs::e4m3_round_sat(cfg_.scaled ? at::div(g.x, s3) : g.x);
  return ungroup(cfg_.scaled ? at::mul(q, s3) : q, g);
}

EncodedTensor Fp8E4m3Format::encode(const at::Tensor& x) const {
  GroupedView g = group_last_dim(x, effective_groups(cfg_), cfg_.pad, "fp8_e4m3");
  at::Tensor s = scales_fast(g.x, cfg_.scaled);
  at::Tensor y = cfg_.scaled ? at::div(g.x, s.unsqueeze(-1)) : g.x;
  EncodedTensor e = g.encoding();
  e.codes = codecs::e4m3_encode_sat(y).reshape({g.rows, g.padded_k});
  e.scales = s;
  return e;
}

at::Tensor Fp8E4m3Format::decode(const EncodedTensor& e) const {
  const int64_t rows = e.codes.size(0), kp = e.codes.size(1);
  at::Tensor q = as_groups(codecs::e4m3_decode(e.codes), e.scales, e.group_size);
  at::Tensor xhat = cfg_.scaled ? at::mul(q, e.scales.to(at::kFloat).unsqueeze(-1)) : q;
  return restore_shape(xhat.reshape({rows, kp}), e.shape, e.dtype);
}

at::Tensor Fp8E4m3Format::fake_quant_ref(const at::Tensor& x) const {
  GroupedView g = group_last_dim(x.to(at::kCPU), effective_groups(cfg_), cfg_.pad, "fp8_e4m3");
  at::Tensor out = at::empty_like(g.x);
  const float* in = g.x.data_ptr<float>();
  float* o = out.data_ptr<float>();
  const int64_t G = g.group_size, n_groups = G == 0 ? 0 : g.x.numel() / G;
  for (int64_t gi = 0; gi < n_groups; ++gi) {
    const float* xg = in + gi * G;
    float* og = o + gi * G;
    if (!cfg_.scaled) {
      for (int64_t i = 0; i < G; ++i) og[i] = codecs::e4m3_decode(codecs::e4m3_encode_sat(xg[i]));
      continue;
    }
    const float s = scale_ref(finite_amax(xg, G));
    for (int64_t i = 0; i < G; ++i)
      og[i] = codecs::e4m3_decode(codecs::e4m3_encode_sat(xg[i] / s)) * s;
  }
  return restore_shape(out.reshape({g.rows, g.padded_k}), g.shape, at::kFloat);
}

}  // namespace pqlab::methods

PQLAB_PLUGIN(format, fp8_e4m3, pqlab::methods::Fp8E4m3Format,
             "FP8 E4M3 (OCP E4M3FN), per-group amax/448 scale, saturating at ±448")
