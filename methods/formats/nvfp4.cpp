// Format `nvfp4`: NVFP4 fake quantization, methods.md 9.4 (1D blocks of G = 16 along K, the
// layout ModelOpt export and nunchaku use for inference).
//
// global_scale: tensor — TransformerEngine's order of fp32 operations, checked against
// NVIDIA/TransformerEngine transformer_engine/common/cast/nvfp4/core_nvfp4.cuh
// (compute_global_encode_scaling_factor_FP4, quantization_SF::compute_decoding_scaling_factor,
// compute_scaling_coefficient<float>) and transformer_engine/pytorch/custom_recipes/
// reference_nvfp4.py (_quantize_blockwise_reference, cast_to_fp4x2):
//   amax    = max |x| over the tensor (finite values only, see below)
//   S_enc   = (448.f * 6.f) / amax;  S_enc = fminf(S_enc, FLT_MAX);
//             if (amax == 0 || S_enc == 0) S_enc = 1        (the kernel's rule; the Python
//             reference replaces only S_enc == 0, which gives the same codes for amax == 0)
//   S_dec   = 1.f / S_enc
//   sb      = e4m3_satfinite_rn(block_amax * (S_enc * (1.f/6.f)))    (stored block scale byte)
//   inv     = fminf(1.f / ((float)sb * S_dec), FLT_MAX)              (zero block: FLT_MAX)
//   q       = e2m1_rn_satfinite(x * inv)                              (reference: clamp ±6, table)
//   x̂       = (e2m1(q) * (float)sb) * S_dec
// The dequantization is our choice, as TE's Python reference has no standalone dequantize
// (its qgemm accumulates e2m1 products times block scales per block, then multiplies by
// alpha = amax_a*amax_b/(6*6*448*448)). e2m1(q)*(float)sb is exact (2 x 4 significant bits), so
// x̂ is the single correctly rounded product with the same S_dec the encoder used. TE's CUDA
// dequantize_fp4_kernel (dequantize_nvfp4.cuh) instead computes q * ((float)sb * amax *
// (1/(6*448))), which can differ from ours in the last bit.
//
// global_scale: none — nunchaku's dynamic activation quantization (quantize_w4a4_fp4_from_fpsum_
// warp in nunchaku src/kernels/zgemm/gemm_w4a4.cuh), with no per-tensor scale:
//   scale = fminf(block_amax * (1.f/6.f), 448.f)     (fp32, unrounded)
//   sb    = e4m3_satfinite_rn(scale)                 (stored block scale byte)
//   q     = e2m1_rn_satfinite(x * fminf(1.f/scale, FLT_MAX))
//   x̂     = e2m1(q) * (float)sb
// As in nunchaku, elements are scaled by the reciprocal of the UNROUNDED scale while the
// dequantization uses the E4M3-rounded one. Differences from nunchaku: 1.f/scale is the IEEE
// reciprocal (nunchaku uses rcp.approx.ftz.f32, within 1 ulp, so rare E2M1 ties can differ), the
// block amax is taken in fp32 (nunchaku takes it on fp16 inputs, which is the same value for fp16
// inputs), and a zero block uses fminf(inf, FLT_MAX) so it yields zeros instead of 0*inf = NaN.
// Block amax below 6*2^-9 ≈ 0.0117 gives subnormal or zero E4M3 scales (zero: the block
// dequantizes to 0).
//
// NaN/Inf policy (all formats): amax/block amax come from finite values only. NaN elements come
// out NaN in fake_quant; encode throws RuntimeError naming the first NaN (E2M1 has no NaN code).
// ±Inf elements saturate to the largest code of their sign (±6 times the block scale; in a block
// whose scale is 0 that dequantizes to 0). E2M1 ties round to even (TE table = PTX cvt.rn).
// bf16/fp16 inputs are upcast exactly and the result is cast back.
// Compiled with -ffp-contract=off (see CMakeLists.txt).
#include "methods/formats/nvfp4.h"

#include <ATen/ATen.h>

#include <cfloat>
#include <cmath>

#include "framework/core/error.h"
#include "framework/registry/registries.h"
#include "methods/formats/codecs.h"

namespace pqlab::methods {
namespace {

constexpr float kEncNumerator = 448.0f * 6.0f;  // 2688, exact
constexpr float kRcp6 = 1.0f / 6.0f;           // TE fp4_max_inv / nunchaku RECPI_QVALUE_MAX

/// Fast path: codes of the block scales, their values, the elementwise E2M1 values of x*inv and
/// x̂, all from grouped gx [R, Gn, G].
struct Nvfp4Parts {
  at::Tensor s_dec;    // [] (tensor mode)
  at::Tensor sb_code;  // uint8 [R, Gn]
  at::Tensor y;        // x * inv [R, Gn, G]
  at::Tensor xhat;     // [R, Gn, G]
};

Nvfp4Parts quantize_fast(const at::Tensor& gx, bool global) {
  Nvfp4Parts p;
  at::Tensor bamax = finite_amax(gx, -1);
  at::Tensor inv;
  at::Tensor sb;
  if (global) {
    at::Tensor amax = finite_amax(gx);
    at::Tensor s_enc = at::div(scalar_like(gx, kEncNumerator), amax);
    s_enc = at::minimum(s_enc, scalar_like(gx, FLT_MAX));
    s_enc = at::where(at::logical_or(amax == 0, s_enc == 0), scalar_like(gx, 1.0f), s_enc);
    p.s_dec = at::div(scalar_like(gx, 1.0f), s_enc);
    at::Tensor sb_in = at::mul(bamax, at::mul(s_enc, kRcp6));
    p.sb_code = codecs::e4m3_encode_sat(sb_in);
    sb = codecs::e4m3_decode(p.sb_code);
    inv = at::div(scalar_like(gx, 1.0f), at::mul(sb, p.s_dec));
  } else {
    at::Tensor scale = at::minimum(at::mul(bamax, kRcp6), scalar_like(gx, codecs::kE4m3Max));
    p.sb_code = codecs::e4m3_encode_sat(scale);
    sb = codecs::e4m3_decode(p.sb_code);
    inv = at::div(scalar_like(gx, 1.0f), scale);
  }
  inv = at::minimum(inv, scalar_like(gx, FLT_MAX)).unsqueeze(-1);
  p.y = at::mul(gx, inv);
  at::Tensor xhat = at::mul(codecs::e2m1_round(p.y), sb.unsqueeze(-1));
  if (global) xhat = at::mul(xhat, p.s_dec);
  p.xhat = at::where(at::isnan(gx), gx, xhat);
  return p;
}

}  // namespace

Nvfp4Format::Nvfp4Format(const Nvfp4Config& c) : ConfiguredPlugin(c) {
  if (c.group_size.value <= 0 || c.group_size.value % 2 != 0)
    throw UsageError("nvfp4: group_size must be a positive even integer");
  if (c.global_scale != "tensor" && c.global_scale != "none")
    throw UsageError("nvfp4: global_scale must be 'tensor' or 'none'");
}

std::string Nvfp4Format::describe() const {
  return "nvfp4 " + group_label(cfg_.group_size) +
         (cfg_.global_scale == "none" ? " no-global" : "");
}

double Nvfp4Format::bits_per_element() const {
  return 4.0 + 8.0 / static_cast<double>(cfg_.group_size.value);
}

at::Tensor Nvfp4Format::fake_quant(const at::Tensor& x) const {
  GroupedView g = group_last_dim(x, cfg_.group_size, cfg_.pad, "nvfp4");
  return ungroup(quantize_fast(g.x, cfg_.global_scale == "tensor").xhat, g);
}

EncodedTensor Nvfp4Format::encode(const at::Tensor& x) const {
  GroupedView g = group_last_dim(x, cfg_.group_size, cfg_.pad, "nvfp4");
  throw_if_nan(x, "nvfp4");
  Nvfp4Parts p = quantize_fast(g.x, cfg_.global_scale == "tensor");
  EncodedTensor e = g.encoding();
  e.codes = codecs::pack_nibbles(codecs::e2m1_encode(p.y).reshape({g.rows, g.padded_k}));
  e.scales = p.sb_code;
  if (p.s_dec.defined()) e.global_scale = p.s_dec;
  return e;
}

at::Tensor Nvfp4Format::decode(const EncodedTensor& e) const {
  const at::Tensor values = codecs::e2m1_decode_packed(e.codes);
  const int64_t rows = values.size(0), kp = values.size(1);
  at::Tensor q = as_groups(values, e.scales, e.group_size);
  at::Tensor xhat = at::mul(q, codecs::e4m3_decode(e.scales).unsqueeze(-1));
  if (e.global_scale.defined()) xhat = at::mul(xhat, e.global_scale.to(at::kFloat));
  return restore_shape(xhat.reshape({rows, kp}), e.shape, e.dtype);
}

at::Tensor Nvfp4Format::fake_quant_ref(const at::Tensor& x) const {
  GroupedView g = group_last_dim(x.to(at::kCPU), cfg_.group_size, cfg_.pad, "nvfp4");
  const bool global = cfg_.global_scale == "tensor";
  at::Tensor out = at::empty_like(g.x);
  const float* in = g.x.data_ptr<float>();
  float* o = out.data_ptr<float>();
  const int64_t G = g.group_size, n_blocks = g.x.numel() / G;

  float s_enc = 1.0f, s_dec = 1.0f;
  if (global) {
    const float amax = finite_amax(in, g.x.numel());
    s_enc = kEncNumerator / amax;
    s_enc = std::fmin(s_enc, FLT_MAX);
    if (amax == 0.0f || s_enc == 0.0f) s_enc = 1.0f;
    s_dec = 1.0f / s_enc;
  }
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float* xb = in + b * G;
    float* ob = o + b * G;
    const float bamax = finite_amax(xb, G);
    float sb, inv;
    if (global) {
      sb = codecs::e4m3_decode(codecs::e4m3_encode_sat(bamax * (s_enc * kRcp6)));
      inv = std::fmin(1.0f / (sb * s_dec), FLT_MAX);
    } else {
      const float scale = std::fmin(bamax * kRcp6, codecs::kE4m3Max);
      sb = codecs::e4m3_decode(codecs::e4m3_encode_sat(scale));
      inv = std::fmin(1.0f / scale, FLT_MAX);
    }
    for (int64_t i = 0; i < G; ++i) {
      if (std::isnan(xb[i])) {
        ob[i] = xb[i];
        continue;
      }
      const float q = codecs::e2m1_decode(codecs::e2m1_encode(xb[i] * inv));
      ob[i] = global ? q * sb * s_dec : q * sb;
    }
  }
  return restore_shape(out.reshape({g.rows, g.padded_k}), g.shape, at::kFloat);
}

}  // namespace pqlab::methods

PQLAB_PLUGIN(format, nvfp4, pqlab::methods::Nvfp4Format,
             "NVFP4: E2M1 elements, E4M3 scale per 16 elements, fp32 tensor scale (TE order)")
