// Format `mxfp4`: MXFP4 fake quantization, OCP MX v1.0 (methods.md 9.5).
//
//   X  = floor: floor(log2(block_amax)) - 2 from the fp32 exponent bits (OCP section 6.3, torchao
//               to_mx FLOOR); values up to < 8 * 2^X then saturate to 6 * 2^X
//        rceil: ceil(log2(block_amax / 6)), computed as TE float_to_e8m0(amax * (1/6.f))
//               (PTX cvt.rp.satfinite.ue8m0x2.f32; TE MXFP8, ModelOpt MXFP4); never clips
//        clamped to the E8M0 range [-127, 127]; an all-zero block gets X = -127 (code 0)
//   q  = e2m1_rn_satfinite(x / 2^X)     (IEEE division by a power of two, as torchao)
//   x̂  = e2m1(q) * 2^X
// Elements round half to even (TE table, PTX), not ModelOpt's MXFP4 export that rounds ties down.
// For |x| near FLT_MAX, rceil can give x̂ = 4 * 2^126 = 2^128, which overflows fp32 to inf.
//
// NaN/Inf policy (all formats): block amax from finite values only. NaN elements come out NaN in
// fake_quant; encode throws RuntimeError naming the first NaN (E2M1 has no NaN code; E8M0's NaN
// code 255 is never produced). ±Inf elements saturate to ±6 * 2^X.
// bf16/fp16 inputs are upcast exactly and the result is cast back.
// Compiled with -ffp-contract=off (see CMakeLists.txt).
#include "methods/formats/mxfp4.h"

#include <ATen/ATen.h>

#include <cmath>

#include "framework/core/error.h"
#include "framework/registry/registries.h"
#include "methods/formats/codecs.h"

namespace pqlab::methods {
namespace {

struct Mxfp4Parts {
  at::Tensor code;  // uint8 E8M0 [R, Gn]
  at::Tensor y;     // x / 2^X [R, Gn, G]
  at::Tensor xhat;  // [R, Gn, G]
};

Mxfp4Parts quantize_fast(const at::Tensor& gx, bool rceil) {
  Mxfp4Parts p;
  at::Tensor bamax = finite_amax(gx, -1);
  p.code = rceil ? codecs::e8m0_rceil(bamax) : codecs::e8m0_floor(bamax);
  at::Tensor sc = codecs::e8m0_decode(p.code).unsqueeze(-1);
  p.y = at::div(gx, sc);
  p.xhat = at::mul(codecs::e2m1_round(p.y), sc);  // e2m1_round keeps NaN
  return p;
}

}  // namespace

Mxfp4Format::Mxfp4Format(const Mxfp4Config& c) : ConfiguredPlugin(c) {
  if (c.group_size.value <= 0 || c.group_size.value % 2 != 0)
    throw UsageError("mxfp4: group_size must be a positive even integer");
  if (c.scale_mode != "floor" && c.scale_mode != "rceil")
    throw UsageError("mxfp4: scale_mode must be 'floor' or 'rceil'");
}

std::string Mxfp4Format::describe() const {
  return "mxfp4 " + group_label(cfg_.group_size) + " " + cfg_.scale_mode;
}

double Mxfp4Format::bits_per_element() const {
  return 4.0 + 8.0 / static_cast<double>(cfg_.group_size.value);
}

at::Tensor Mxfp4Format::fake_quant(const at::Tensor& x) const {
  GroupedView g = group_last_dim(x, cfg_.group_size, cfg_.pad, "mxfp4");
  return ungroup(quantize_fast(g.x, cfg_.scale_mode == "rceil").xhat, g);
}

EncodedTensor Mxfp4Format::encode(const at::Tensor& x) const {
  GroupedView g = group_last_dim(x, cfg_.group_size, cfg_.pad, "mxfp4");
  throw_if_nan(x, "mxfp4");
  Mxfp4Parts p = quantize_fast(g.x, cfg_.scale_mode == "rceil");
  EncodedTensor e = g.encoding();
  e.codes = codecs::pack_nibbles(codecs::e2m1_encode(p.y).reshape({g.rows, g.padded_k}));
  e.scales = p.code;
  return e;
}

at::Tensor Mxfp4Format::decode(const EncodedTensor& e) const {
  const at::Tensor values = codecs::e2m1_decode_packed(e.codes);
  const int64_t rows = values.size(0), kp = values.size(1);
  at::Tensor q = as_groups(values, e.scales, e.group_size);
  at::Tensor xhat = at::mul(q, codecs::e8m0_decode(e.scales).unsqueeze(-1));
  return restore_shape(xhat.reshape({rows, kp}), e.shape, e.dtype);
}

at::Tensor Mxfp4Format::fake_quant_ref(const at::Tensor& x) const {
  GroupedView g = group_last_dim(x.to(at::kCPU), cfg_.group_size, cfg_.pad, "mxfp4");
  const bool rceil = cfg_.scale_mode == "rceil";
  at::Tensor out = at::empty_like(g.x);
  const float* in = g.x.data_ptr<float>();
  float* o = out.data_ptr<float>();
  const int64_t G = g.group_size, n_blocks = g.x.numel() / G;
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float* xb = in + b * G;
    float* ob = o + b * G;
    const float bamax = finite_amax(xb, G);
    const float sc = codecs::e8m0_decode(rceil ? codecs::e8m0_rceil(bamax) : codecs::e8m0_floor(bamax));
    for (int64_t i = 0; i < G; ++i) ob[i] = codecs::e2m1_round(xb[i] / sc) * sc;
  }
  return restore_shape(out.reshape({g.rows, g.padded_k}), g.shape, at::kFloat);
}

}  // namespace pqlab::methods

PQLAB_PLUGIN(format, mxfp4, pqlab::methods::Mxfp4Format,
             "MXFP4 (OCP MX): E2M1 elements, E8M0 power-of-two scale per 32 elements")
