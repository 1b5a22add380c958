// Format `int`: INT-b per-group fake quantization, methods.md 9.1.
//
//   symmetric:  s = amax / qmax, qmax = 2^(b-1)-1;  q = clamp(RNE(x / s), -qmax-1, qmax);  x̂ = s*q
//   asymmetric: min <- min(min, 0), max <- max(max, 0)   (choice: 0 is always exactly representable,
//               as GPTQ-style implementations do, so zero padding and ReLU zeros stay exact)
//               s = (max-min)/(2^b-1);  z = clamp(RNE(-min/s), 0, 2^b-1)
//               q = clamp(RNE(x/s) + z, 0, 2^b-1);  x̂ = s*(q - z)
//
// Bit-exactness: x/s is a true IEEE division, as QuaRot and ModelOpt do (nunchaku multiplies by an
// approximate reciprocal instead; that can flip ties). RNE is at::round / std::nearbyint (never
// std::round, which rounds half away from zero). scale_dtype fp16/bf16 rounds s (RNE) before both
// quantization and dequantization, like nunchaku's fp16 scale storage.
// Scale edge cases: an all-zero group (amax == 0, or max == min) uses s = 1 (q = 0). A nonzero
// scale that underflows to 0 in its dtype becomes that dtype's smallest subnormal, and one that
// overflows becomes its largest finite value, so s is always positive and finite.
//
// NaN/Inf policy (all formats): scales/amax/min/max come from finite values only. NaN elements
// come out NaN in fake_quant; encode throws RuntimeError naming the first NaN (INT has no NaN
// code). ±Inf elements saturate to the largest code of their sign (qmax / -qmax-1, or 2^b-1 / 0).
//
// bf16/fp16 inputs are upcast exactly to float32; the result is cast back to the input dtype.
// This file is compiled with -ffp-contract=off (see CMakeLists.txt).
#include "methods/formats/int.h"

#include <ATen/ATen.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cfloat>
#include <cmath>

#include "framework/core/error.h"
#include "framework/registry/registries.h"

namespace pqlab::methods {
namespace {

at::ScalarType scale_type(const std::string& s) {
  if (s == "fp16") return at::kHalf;
  if (s == "bf16") return at::kBFloat16;
  return at::kFloat;
}

/// Smallest positive subnormal and largest finite value of the scale dtype, as float.
float scale_tiny(at::ScalarType t) {
  if (t == at::kHalf) return 5.9604644775390625e-08f;  // 2^-24
  if (t == at::kBFloat16) return 9.18354961579912115e-41f;  // 2^-133
  return 1.40129846e-45f;  // 2^-149
}
float scale_big(at::ScalarType t) {
  if (t == at::kHalf) return 65504.0f;
  if (t == at::kBFloat16) return 3.38953139e38f;  // 0x7F7F
  return FLT_MAX;
}

/// Scalar reference of the scale rounding and fix-up (must mirror fix_scale below).
float fix_scale_ref(float s, bool all_zero, at::ScalarType t) {
  if (t == at::kHalf) s = static_cast<float>(c10::Half(s));
  if (t == at::kBFloat16) s = static_cast<float>(c10::BFloat16(s));
  if (s == 0.0f) s = scale_tiny(t);
  if (std::isinf(s)) s = scale_big(t);
  if (all_zero) s = 1.0f;
  return s;
}

at::Tensor fix_scale(at::Tensor s, const at::Tensor& all_zero, at::ScalarType t) {
  if (t != at::kFloat) s = s.to(t).to(at::kFloat);
  s = at::where(s == 0, at::full_like(s, scale_tiny(t)), s);
  s = at::where(at::isinf(s), at::full_like(s, scale_big(t)), s);
  return at::where(all_zero, at::ones_like(s), s);
}

/// Fast path on grouped data gx [R, Gn, G]: fills q (float, integer valued), s [R, Gn] and, for
/// asymmetric, z [R, Gn] (float, integer valued); returns x̂ [R, Gn, G] with NaN kept.
struct IntParts {
  at::Tensor q, s, z, xhat;
};

IntParts quantize_fast(const at::Tensor& gx, const IntConfig& c) {
  const at::ScalarType st = scale_type(c.scale_dtype);
  IntParts p;
  if (c.symmetric) {
    const float qmax = static_cast<float>((1 << (c.bits - 1)) - 1);
    at::Tensor amax = finite_amax(gx, -1);
    p.s = fix_scale(at::div(amax, scalar_like(gx, qmax)), amax == 0, st);
    at::Tensor s3 = p.s.unsqueeze(-1);
    // + 0 turns a -0 from round() into +0: INT codes have no negative zero, and decode(encode)
    // must equal fake_quant bit for bit.
    p.q = at::add(at::round(at::div(gx, s3)).clamp(-qmax - 1.0f, qmax), 0.0f);
    p.xhat = at::mul(s3, p.q);
  } else {
    const float levels = static_cast<float>((1 << c.bits) - 1);
    at::Tensor xf = at::where(at::isfinite(gx), gx, at::zeros_like(gx));
    at::Tensor mn = xf.amin(-1).clamp_max(0.0f);
    at::Tensor mx = xf.amax(-1).clamp_min(0.0f);
    p.s = fix_scale(at::div(at::sub(mx, mn), scalar_like(gx, levels)), mx == mn, st);
    p.z = at::round(at::div(at::neg(mn), p.s)).clamp(0.0f, levels);
    at::Tensor s3 = p.s.unsqueeze(-1);
    p.q = at::add(at::round(at::div(gx, s3)), p.z.unsqueeze(-1)).clamp(0.0f, levels);
    p.xhat = at::mul(s3, at::sub(p.q, p.z.unsqueeze(-1)));
  }
  p.xhat = at::where(at::isnan(gx), gx, p.xhat);
  return p;
}

}  // namespace

IntFormat::IntFormat(const IntConfig& c) : ConfiguredPlugin(c) {
  if (c.bits < 2 || c.bits > 8) throw UsageError("int: bits must be in [2, 8]");
  if (!valid_group_size(c.group_size)) throw UsageError("int: invalid group_size");
  if (c.scale_dtype != "fp32" && c.scale_dtype != "fp16" && c.scale_dtype != "bf16")
    throw UsageError("int: scale_dtype must be fp32, fp16 or bf16");
}

std::string IntFormat::describe() const {
  std::string d = "int" + std::to_string(cfg_.bits) + " " + group_label(cfg_.group_size) +
                  (cfg_.symmetric ? " sym" : " asym");
  if (cfg_.scale_dtype != "fp32") d += " " + cfg_.scale_dtype + "-scale";
  return d;
}

double IntFormat::bits_per_element() const {
  const double b = static_cast<double>(cfg_.bits);
  if (cfg_.group_size.value <= 0) return b;  // per-row / per-tensor: scale cost depends on K
  const double g = static_cast<double>(cfg_.group_size.value);
  const double scale_bits = cfg_.scale_dtype == "fp32" ? 32.0 : 16.0;
  return b + scale_bits / g + (cfg_.symmetric ? 0.0 : b / g);
}

at::Tensor IntFormat::fake_quant(const at::Tensor& x) const {
  GroupedView g = group_last_dim(x, cfg_.group_size, cfg_.pad, "int");
  return ungroup(quantize_fast(g.x, cfg_).xhat, g);
}

EncodedTensor IntFormat::encode(const at::Tensor& x) const {
  GroupedView g = group_last_dim(x, cfg_.group_size, cfg_.pad, "int");
  throw_if_nan(x, "int");
  IntParts p = quantize_fast(g.x, cfg_);
  EncodedTensor e = g.encoding();
  e.codes = p.q.reshape({g.rows, g.padded_k}).to(cfg_.symmetric ? at::kChar : at::kByte);
  e.scales = p.s;
  if (!cfg_.symmetric) e.zero_points = p.z.to(at::kInt);
  return e;
}

at::Tensor IntFormat::decode(const EncodedTensor& e) const {
  const int64_t rows = e.codes.size(0), kp = e.codes.size(1);
  // [Sr, Sg, G]: per-group/per-row scales are [rows, Gn]; a per-tensor scale is [1, 1].
  at::Tensor q = as_groups(e.codes.to(at::kFloat), e.scales, e.group_size);
  at::Tensor s3 = e.scales.to(at::kFloat).unsqueeze(-1);
  at::Tensor xhat;
  if (e.zero_points.defined())
    xhat = at::mul(s3, at::sub(q, e.zero_points.to(at::kFloat).unsqueeze(-1)));
  else
    xhat = at::mul(s3, q);
  return restore_shape(xhat.reshape({rows, kp}), e.shape, e.dtype);
}

at::Tensor IntFormat::fake_quant_ref(const at::Tensor& x) const {
  GroupedView g = group_last_dim(x.to(at::kCPU), cfg_.group_size, cfg_.pad, "int");
  const at::ScalarType st = scale_type(cfg_.scale_dtype);
  at::Tensor out = at::empty_like(g.x);
  const float* in = g.x.data_ptr<float>();
  float* o = out.data_ptr<float>();
  const int64_t G = g.group_size, n_groups = G == 0 ? 0 : g.x.numel() / G;
  for (int64_t gi = 0; gi < n_groups; ++gi) {
    const float* xg = in + gi * G;
    float* og = o + gi * G;
    if (cfg_.symmetric) {
      const float qmax = static_cast<float>((1 << (cfg_.bits - 1)) - 1);
      const float amax = finite_amax(xg, G);
      const float s = fix_scale_ref(amax / qmax, amax == 0.0f, st);
      for (int64_t i = 0; i < G; ++i) {
        float q = std::nearbyint(xg[i] / s);
        q = std::fmin(std::fmax(q, -qmax - 1.0f), qmax) + 0.0f;  // no negative zero code
        og[i] = std::isnan(xg[i]) ? xg[i] : s * q;
      }
    } else {
      const float levels = static_cast<float>((1 << cfg_.bits) - 1);
      float mn = 0.0f, mx = 0.0f;  // min <- min(min, 0), max <- max(max, 0)
      for (int64_t i = 0; i < G; ++i) {
        if (!std::isfinite(xg[i])) continue;
        mn = std::fmin(mn, xg[i]);
        mx = std::fmax(mx, xg[i]);
      }
      const float s = fix_scale_ref((mx - mn) / levels, mx == mn, st);
      const float z = std::fmin(std::fmax(std::nearbyint(-mn / s), 0.0f), levels);
      for (int64_t i = 0; i < G; ++i) {
        float q = std::nearbyint(xg[i] / s) + z;
        q = std::fmin(std::fmax(q, 0.0f), levels);
        og[i] = std::isnan(xg[i]) ? xg[i] : s * (q - z);
      }
    }
  }
  return restore_shape(out.reshape({g.rows, g.padded_k}), g.shape, at::kFloat);
}

}  // namespace pqlab::methods

PQLAB_PLUGIN(format, int, pqlab::methods::IntFormat,
             "INT-b per-group fake quantization (symmetric absmax or asymmetric with zero point)")
