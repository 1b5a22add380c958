// Scalar and vectorised element codecs (see codecs.h; methods.md 9.2, 9.3, 9.5).
// Compiled with -ffp-contract=off (methods/formats/CMakeLists.txt): every float operation here is
// a single IEEE fp32 operation in the order written.
#include "methods/formats/codecs.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstring>
#include <limits>

namespace pqlab::methods::codecs {
namespace {

inline uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// E4M3

uint8_t e4m3_encode_rne(float x) {
  // PyTorch c10/util/Float8_e4m3fn.h fp8e4m3fn_from_fp32_value, bit for bit (methods.md 9.2).
  const uint32_t fp8_max = UINT32_C(1087) << 20;     // bits of 480.0f: first value that rounds to NaN
  const uint32_t denorm_mask = UINT32_C(141) << 23;  // 2^14: adding it rounds to multiples of 2^-9
  uint32_t f_bits = bits_of(x);
  const uint32_t sign = f_bits & UINT32_C(0x80000000);
  f_bits ^= sign;
  uint8_t result;
  if (f_bits >= fp8_max) {
    result = kE4m3NaN;  // NaN, ±inf and |x| >= 480 (and (464, 480) rounds up to here too, below)
  } else if (f_bits < (UINT32_C(121) << 23)) {  // |x| < 2^-6: E4M3 subnormal range
    // The fp32 add rounds |x| to a multiple of 2^-9 with round-half-even; the low bits are m.
    f_bits = bits_of(float_of(f_bits) + float_of(denorm_mask));
    result = static_cast<uint8_t>(f_bits - denorm_mask);
  } else {
    const uint32_t mant_odd = (f_bits >> 20) & 1;  // RNE: +0x7FFFF, +1 more if the kept lsb is odd
    f_bits += (static_cast<uint32_t>(7 - 127) << 23) + 0x7FFFF;
    f_bits += mant_odd;
    result = static_cast<uint8_t>(f_bits >> 20);
  }
  return static_cast<uint8_t>(result | (sign >> 24));
}

uint8_t e4m3_encode_sat(float x) {
  if (std::isnan(x)) return static_cast<uint8_t>(kE4m3NaN | (std::signbit(x) ? 0x80 : 0));
  // Clamp first (TE reference order); this also maps ±inf to ±448.
  if (x > kE4m3Max) x = kE4m3Max;
  if (x < -kE4m3Max) x = -kE4m3Max;
  return e4m3_encode_rne(x);
}

float e4m3_decode(uint8_t code) {
  const bool neg = (code & 0x80) != 0;
  const int e = (code >> 3) & 0xF;
  const int m = code & 0x7;
  float v;
  if (e == 0xF && m == 0x7) {
    v = std::numeric_limits<float>::quiet_NaN();
  } else if (e == 0) {
    v = std::ldexp(static_cast<float>(m), -9);  // 2^-6 * m/8, exact
  } else {
    v = std::ldexp(static_cast<float>(8 + m), e - 7 - 3);  // 2^(e-7) * (1 + m/8), exact
  }
  return neg ? -v : v;
}

float e4m3_round_sat(float x) { return e4m3_decode(e4m3_encode_sat(x)); }

// ---------------------------------------------------------------------------------------------
// E2M1

uint8_t e2m1_encode(float x) {
  if (std::isnan(x)) return 0;
  const uint8_t sign = std::signbit(x) ? 8 : 0;
  float a = std::fabs(x);
  if (a > kE2m1Max) a = kE2m1Max;  // satfinite (±inf too)
  // Decision table of TE reference_nvfp4.cast_to_fp4x2 (methods.md 9.3): closed intervals at the
  // even codes, open ones at the odd codes = round half to even.
  uint8_t c;
  if (a <= 0.25f) c = 0;
  else if (a < 0.75f) c = 1;
  else if (a <= 1.25f) c = 2;
  else if (a < 1.75f) c = 3;
  else if (a <= 2.5f) c = 4;
  else if (a < 3.5f) c = 5;
  else if (a <= 5.0f) c = 6;
  else c = 7;
  return static_cast<uint8_t>(sign | c);
}

float e2m1_decode(uint8_t code) {
  static constexpr float kValues[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  const float v = kValues[code & 7];
  return (code & 8) ? -v : v;
}

float e2m1_round(float x) {
  if (std::isnan(x)) return x;
  return e2m1_decode(e2m1_encode(x));
}

// ---------------------------------------------------------------------------------------------
// E8M0

float e8m0_decode(uint8_t code) {
  if (code == kE8m0NaN) return std::numeric_limits<float>::quiet_NaN();
  if (code == 0) return float_of(UINT32_C(0x00400000));  // 2^-127 (fp32 subnormal)
  return float_of(static_cast<uint32_t>(code) << 23);
}

uint8_t e8m0_floor(float amax) {
  // torchao to_mx ScaleCalculationMode.FLOOR: biased exponent of amax minus emax(E2M1) = 2; the
  // E8M0 biased code equals the fp32 biased exponent shifted by the same amount.
  const int e_bits = static_cast<int>((bits_of(amax) >> 23) & 0xFF);
  int code = e_bits - 2;
  if (code < 0) code = 0;      // X = -127 (also amax == 0 and subnormal amax)
  if (code > 254) code = 254;  // X = 127; unreachable for finite amax
  return static_cast<uint8_t>(code);
}

uint8_t e8m0_rceil(float amax) {
  const float v = amax * (1.0f / 6.0f);  // TE: amax * Quantized_Limits::max_norm_rcp
  const uint32_t u = bits_of(v);
  const uint32_t e = (u >> 23) & 0xFF;
  const uint32_t m = u & 0x7FFFFF;
  if (e == 0) return m > 0x400000 ? 1 : 0;  // subnormal v: 2^-126 if v > 2^-127, else 2^-127
  uint32_t code = e + (m != 0 ? 1 : 0);     // ceil(log2 v)
  if (code > 254) code = 254;
  return static_cast<uint8_t>(code);
}

// ---------------------------------------------------------------------------------------------
// Vectorised versions

namespace {

/// fp32 exponent field (biased, 0..255) of a non-negative float32 tensor, as int32.
at::Tensor exponent_bits(const at::Tensor& nonneg) {
  return at::bitwise_right_shift(nonneg.contiguous().view(at::kInt), 23);
}

/// Shared E4M3 rounding core: returns (magnitude value, E, n) for a = min(|x|, 448) with NaN -> 0.
struct E4m3Parts {
  at::Tensor value;  // float32, e4m3-representable magnitude
  at::Tensor e;      // int32, clamped exponent E >= -6 of the pre-rounding magnitude
  at::Tensor n;      // float32, round(a / 2^(E-3)) (integer valued, 0..16)
};

E4m3Parts e4m3_parts(const at::Tensor& x) {
  TORCH_CHECK(x.scalar_type() == at::kFloat, "e4m3 codec expects float32");
  at::Tensor a = x.abs();
  a = at::where(at::isnan(a), at::zeros_like(a), a).clamp_max(kE4m3Max);  // inf -> 448
  at::Tensor e = (exponent_bits(a) - 127).clamp_min(-6);
  // step = 2^(E-3): build its bits directly (biased exponent E-3+127 >= 118, a normal float).
  at::Tensor step = ((e + (127 - 3)) * (1 << 23)).to(at::kInt).view(at::kFloat);
  at::Tensor n = at::round(at::div(a, step));  // exact division by a power of two; RNE round
  return {at::mul(n, step), e, n};
}

}  // namespace

at::Tensor e4m3_round_sat(const at::Tensor& x) {
  E4m3Parts p = e4m3_parts(x);
  at::Tensor out = at::copysign(p.value, x);
  return at::where(at::isnan(x), x, out);
}

at::Tensor e4m3_encode_sat(const at::Tensor& x) {
  E4m3Parts p = e4m3_parts(x);
  at::Tensor code = (p.e + 7) * 8 + p.n.to(at::kInt) - 8;
  code = at::where(at::isnan(x), at::full_like(code, kE4m3NaN), code);
  code = code + at::signbit(x).to(at::kInt) * 128;
  return code.to(at::kByte);
}

at::Tensor e4m3_decode(const at::Tensor& codes) {
  at::Tensor c = codes.to(at::kInt);
  at::Tensor neg = at::bitwise_and(c, 0x80) != 0;
  at::Tensor e = at::bitwise_and(at::bitwise_right_shift(c, 3), 0xF);
  at::Tensor m = at::bitwise_and(c, 0x7);
  // value = mant * 2^(E-3), mant = m (subnormal, E = -6) or 8 + m (normal, E = e - 7); both exact.
  at::Tensor normal = e != 0;
  at::Tensor mant = at::where(normal, m + 8, m).to(at::kFloat);
  at::Tensor ee = at::where(normal, e - 7, at::full_like(e, -6));
  at::Tensor step = ((ee + (127 - 3)) * (1 << 23)).to(at::kInt).view(at::kFloat);
  at::Tensor v = at::mul(mant, step);
  v = at::where(neg, -v, v);
  at::Tensor is_nan = at::bitwise_and(c, 0x7F) == 0x7F;
  return at::where(is_nan, at::full_like(v, std::numeric_limits<float>::quiet_NaN()), v);
}

at::Tensor e2m1_round(const at::Tensor& x) {
  TORCH_CHECK(x.scalar_type() == at::kFloat, "e2m1 codec expects float32");
  at::Tensor a = x.abs();
  at::Tensor step = at::where(a < 2.0, at::full_like(a, 0.5f),
                              at::where(a < 4.0, at::full_like(a, 1.0f), at::full_like(a, 2.0f)));
  at::Tensor q = at::mul(at::round(at::div(a, step)), step).clamp_max(kE2m1Max);
  at::Tensor out = at::copysign(q, x);
  return at::where(at::isnan(x), x, out);
}

at::Tensor e2m1_encode(const at::Tensor& x) {
  at::Tensor q = e2m1_round(x).abs();
  q = at::where(at::isnan(q), at::zeros_like(q), q);
  // {0,.5,1,1.5} -> 2q; {2,3} -> q+2; {4,6} -> q/2+4. All exact.
  at::Tensor code = at::where(q < 2.0, q * 2, at::where(q < 4.0, q + 2, q * 0.5 + 4));
  at::Tensor c = code.to(at::kInt) + at::signbit(x).to(at::kInt) * 8;
  return c.to(at::kByte);
}

at::Tensor e2m1_decode(const at::Tensor& codes) {
  static constexpr float kLut[16] = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                                     -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};
  at::Tensor lut = at::empty({16}, at::kFloat);
  std::memcpy(lut.data_ptr<float>(), kLut, sizeof kLut);
  lut = lut.to(codes.device());
  at::Tensor idx = at::bitwise_and(codes.to(at::kLong), 0xF);
  return lut.index_select(0, idx.reshape({-1})).reshape(codes.sizes());
}

at::Tensor e8m0_floor(const at::Tensor& amax) {
  TORCH_CHECK(amax.scalar_type() == at::kFloat, "e8m0 codec expects float32");
  at::Tensor code = (exponent_bits(amax) - 2).clamp(0, 254);
  return code.to(at::kByte);
}

at::Tensor e8m0_rceil(const at::Tensor& amax) {
  TORCH_CHECK(amax.scalar_type() == at::kFloat, "e8m0 codec expects float32");
  at::Tensor v = at::mul(amax, 1.0f / 6.0f);
  at::Tensor u = v.contiguous().view(at::kInt);
  at::Tensor e = at::bitwise_right_shift(u, 23);
  at::Tensor m = at::bitwise_and(u, 0x7FFFFF);
  at::Tensor normal = (e + (m != 0).to(at::kInt)).clamp_max(254);
  at::Tensor sub = (m > 0x400000).to(at::kInt);
  return at::where(e == 0, sub, normal).to(at::kByte);
}

at::Tensor e8m0_decode(const at::Tensor& codes) {
  at::Tensor c = codes.to(at::kInt);
  at::Tensor b = at::where(c == 0, at::full_like(c, 0x00400000), c * (1 << 23));
  b = at::where(c == kE8m0NaN, at::full_like(c, 0x7FC00000), b);
  return b.contiguous().view(at::kFloat);
}

at::Tensor pack_nibbles(const at::Tensor& codes) {
  TORCH_CHECK(codes.dim() == 2 && codes.size(1) % 2 == 0, "pack_nibbles expects [rows, even n]");
  at::Tensor c = codes.to(at::kInt).reshape({codes.size(0), codes.size(1) / 2, 2});
  at::Tensor lo = at::bitwise_and(c.select(2, 0), 0xF);
  at::Tensor hi = at::bitwise_and(c.select(2, 1), 0xF);
  return (lo + hi * 16).to(at::kByte);
}

at::Tensor e2m1_decode_packed(const at::Tensor& packed) {
  TORCH_CHECK(packed.dim() == 2 && packed.scalar_type() == at::kByte, "e2m1_decode_packed expects uint8 [rows, n/2]");
  at::Tensor lut = at::empty({256, 2}, at::kFloat);
  float* l = lut.data_ptr<float>();
  for (int b = 0; b < 256; ++b) {
    l[2 * b] = e2m1_decode(static_cast<uint8_t>(b & 0xF));     // element 2i: low nibble
    l[2 * b + 1] = e2m1_decode(static_cast<uint8_t>(b >> 4));  // element 2i + 1: high nibble
  }
  const at::Tensor idx = packed.reshape({-1}).to(at::kInt);
  return lut.to(packed.device()).index_select(0, idx).reshape({packed.size(0), packed.size(1) * 2});
}

at::Tensor unpack_nibbles(const at::Tensor& packed) {
  TORCH_CHECK(packed.dim() == 2, "unpack_nibbles expects [rows, n/2]");
  at::Tensor p = packed.to(at::kInt);
  at::Tensor lo = at::bitwise_and(p, 0xF);
  at::Tensor hi = at::bitwise_right_shift(p, 4);
  return at::stack({lo, hi}, 2).reshape({packed.size(0), packed.size(1) * 2}).to(at::kByte);
}

}  // namespace pqlab::methods::codecs
