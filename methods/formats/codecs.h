// Bit-exact element and scale codecs shared by the number formats: FP8 E4M3 ("E4M3FN", OCP),
// FP4 E2M1 (NVFP4/MXFP4 elements) and E8M0 (MXFP4 block scales). methods.md section 9 gives the
// math and test vectors. The scalar functions use no ATen (plain <cstdint>/<cmath>) and are what
// every fake_quant_ref is built from; the at::Tensor functions are the vectorised fast-path
// versions (CPU and CUDA, ops common to libtorch 1.13 and 2.x) and equal the scalar ones bit for
// bit (tests/methods/formats/codecs_test.cpp checks this exhaustively over ranges).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace pqlab::methods::codecs {

// ---------------------------------------------------------------------------------------------
// FP8 E4M3FN: 1 sign, 4 exponent (bias 7), 3 mantissa; max 448 (0x7E); 0x7F/0xFF are NaN; no inf.

constexpr float kE4m3Max = 448.0f;
constexpr uint8_t kE4m3NaN = 0x7F;

/// PyTorch's cast (c10 fp8e4m3fn_from_fp32_value): round to nearest even in the bit domain.
/// NOT saturating: |x| >= 464 rounds into the NaN code (464 itself ties down to 448; everything in
/// (464, 480) and beyond, and ±inf, become 0x7F|sign). NaN -> 0x7F|sign.
uint8_t e4m3_encode_rne(float x);
/// The saturating cast used everywhere in pqlab: clamp to ±448 first (what TransformerEngine's
/// reference does before `.to(torch.float8_e4m3fn)`, and what CUDA `cvt.rn.satfinite.e4m3x2.f32`
/// does in hardware), then e4m3_encode_rne. ±inf -> ±448 (0x7E|sign); NaN stays NaN (0x7F|sign).
uint8_t e4m3_encode_sat(float x);
/// Exact value of an E4M3FN byte; 0x7F/0xFF -> NaN; 0x80 -> -0.0.
float e4m3_decode(uint8_t code);
/// e4m3_decode(e4m3_encode_sat(x)).
float e4m3_round_sat(float x);

// ---------------------------------------------------------------------------------------------
// FP4 E2M1: codes 0..7 = {0, 0.5, 1, 1.5, 2, 3, 4, 6}, bit 3 = sign. No inf/NaN; max 6.

constexpr float kE2m1Max = 6.0f;

/// Round to nearest even with saturation, as the decision table of TransformerEngine
/// `reference_nvfp4.cast_to_fp4x2` and PTX `cvt.rn.satfinite.e2m1x2.f32`: ties 0.25->0, 0.75->1,
/// 1.25->1, 1.75->2, 2.5->2, 3.5->4, 5->4; |x| > 5 (and ±inf) -> 6. The sign bit is signbit(x)
/// (IEEE, as PTX: -0.0 and tiny negatives give code 8 = -0; TE's table maps -0.0 itself to code 0,
/// a difference in the sign of zero only). Precondition: x is not NaN (returns 0 for NaN; the
/// formats check NaN before encoding because E2M1 has no NaN code).
uint8_t e2m1_encode(float x);
/// Value of a 4-bit code (the low nibble of `code` is used).
float e2m1_decode(uint8_t code);
/// e2m1_decode(e2m1_encode(x)); NaN -> NaN.
float e2m1_round(float x);

// ---------------------------------------------------------------------------------------------
// E8M0 (MX block scale): value 2^(e-127) for e in 0..254, 255 = NaN. No zero, no sign.

constexpr uint8_t kE8m0NaN = 255;

/// 2^(code-127) (code 0 -> 2^-127, an fp32 subnormal); 255 -> NaN.
float e8m0_decode(uint8_t code);
/// OCP MX v1.0 section 6.3 / torchao `to_mx` FLOOR: X = floor(log2(amax)) - 2 (2 = emax of
/// E2M1), taken from the fp32 exponent bits of amax, clamped to the E8M0 range [-127, 127]
/// (amax == 0 or subnormal -> code 0). amax must be finite and >= 0.
uint8_t e8m0_floor(float amax);
/// RCEIL (hardware `cvt.rp.satfinite.ue8m0x2.f32`, TE `float_to_e8m0`, ModelOpt MXFP4):
/// X = ceil(log2(amax/6)), computed exactly as TE does from v = amax * (1/6.f): the exponent bits
/// of v, +1 if its mantissa is nonzero (subnormal v: code 1 if v > 2^-127 else 0), at most 254.
/// amax must be finite and >= 0 (amax == 0 -> code 0).
uint8_t e8m0_rceil(float amax);

// ---------------------------------------------------------------------------------------------
// Vectorised versions (float32 tensors, any device; same shape out). Bit-identical to the
// scalar codecs above, NaN positions included.

/// Value of e4m3_round_sat elementwise. Algorithm: a = min(|x|, 448); E = max(exponent(a), -6)
/// from the fp32 exponent bits; step = 2^(E-3) (one E4M3 ulp, subnormal ulp 2^-9 below 2^-6);
/// round(a/step)*step with at::round (round half to even); sign copied from x; NaN kept.
at::Tensor e4m3_round_sat(const at::Tensor& x);
/// Codes of e4m3_encode_sat elementwise, uint8. Same rounding; code = (E+7)*8 + n - 8 with
/// n = round(a/step) (this formula also gives subnormal codes and carries into the next binade).
at::Tensor e4m3_encode_sat(const at::Tensor& x);
/// Values of uint8 E4M3 codes as float32 (0x7F/0xFF -> NaN).
at::Tensor e4m3_decode(const at::Tensor& codes);

/// Value of e2m1_round elementwise: a = |x|; step = a<2 ? 0.5 : a<4 ? 1 : 2;
/// q = min(round(a/step)*step, 6) (at::round = half to even, which reproduces every tie of the
/// decision table); sign copied from x (copysign, so -0.0 stays -0.0); NaN kept.
at::Tensor e2m1_round(const at::Tensor& x);
/// Codes (uint8, 0..15, unpacked) of e2m1_encode elementwise. NaN gives an unspecified code;
/// callers reject NaN first.
at::Tensor e2m1_encode(const at::Tensor& x);
/// Values of unpacked 4-bit codes (any integer dtype; low nibble used) as float32.
at::Tensor e2m1_decode(const at::Tensor& codes);

/// e8m0_floor / e8m0_rceil elementwise on amax (float32, finite, >= 0); uint8 codes.
at::Tensor e8m0_floor(const at::Tensor& amax);
at::Tensor e8m0_rceil(const at::Tensor& amax);
/// 2^(code-127) as float32 (255 -> NaN).
at::Tensor e8m0_decode(const at::Tensor& codes);

/// Packs unpacked 4-bit codes [rows, n] (n even) into uint8 [rows, n/2]: element 2i in the low
/// nibble, 2i+1 in the high nibble (TE cast_to_fp4x2 / ModelOpt / PTX operand order).
at::Tensor pack_nibbles(const at::Tensor& codes);
/// Inverse of pack_nibbles: uint8 [rows, n/2] -> uint8 [rows, n].
at::Tensor unpack_nibbles(const at::Tensor& packed);
/// e2m1_decode(unpack_nibbles(packed)) in one table lookup per byte (a 256-entry table of value
/// pairs): float32 [rows, 2 n]. The decode of packed 4-bit weights at every layer call, so it
/// avoids the int32/int64 copies of the two-step path.
at::Tensor e2m1_decode_packed(const at::Tensor& packed);

}  // namespace pqlab::methods::codecs
