// Element codecs (methods/formats/codecs.h): methods.md 9.2/9.3/9.5 test vectors, an independent
// brute-force nearest-even check of the E4M3 bit algorithm, and scalar == vectorised bit for bit.
#include "methods/formats/codecs.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace pqlab::methods::codecs {
namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

at::Tensor to_tensor(const std::vector<float>& v) {
  at::Tensor t = at::empty({static_cast<int64_t>(v.size())}, at::kFloat);
  std::memcpy(t.data_ptr<float>(), v.data(), v.size() * 4);
  return t;
}

/// Bit patterns of float32 tensors equal (any NaN equals any NaN).
void expect_same_bits(const at::Tensor& a, const at::Tensor& b) {
  ASSERT_EQ(a.sizes(), b.sizes());
  at::Tensor fa = a.to(at::kFloat).contiguous(), fb = b.to(at::kFloat).contiguous();
  const float* pa = fa.data_ptr<float>();
  const float* pb = fb.data_ptr<float>();
  for (int64_t i = 0; i < fa.numel(); ++i) {
    if (std::isnan(pa[i]) || std::isnan(pb[i])) {
      EXPECT_TRUE(std::isnan(pa[i]) && std::isnan(pb[i])) << "index " << i;
    } else {
      EXPECT_EQ(bits(pa[i]), bits(pb[i])) << "index " << i << ": " << pa[i] << " vs " << pb[i];
    }
  }
}

/// Test inputs: every E4M3/E2M1 value, the midpoints between neighbours and their fp32
/// neighbours, specials, and random bit patterns over the interesting exponent range.
std::vector<float> sweep_values() {
  std::vector<float> v;
  std::vector<float> grid;
  for (int c = 0; c < 0x7F; ++c) grid.push_back(e4m3_decode(static_cast<uint8_t>(c)));
  for (float g : {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f}) grid.push_back(g);
  grid.push_back(464.0f);
  grid.push_back(480.0f);
  for (size_t i = 0; i < grid.size(); ++i) {
    for (float g : {grid[i], i + 1 < grid.size() ? 0.5f * (grid[i] + grid[i + 1]) : grid[i]}) {
      for (float s : {1.0f, -1.0f}) {
        v.push_back(s * g);
        v.push_back(s * std::nextafter(g, kInf));
        v.push_back(s * std::nextafter(g, 0.0f));
      }
    }
  }
  for (float t : {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f, 7.0f, 12.5f, 479.99f, 1e30f,
                  3.4e38f, 1e-30f, 1e-40f, 1e-45f, -0.0f, kInf, -kInf, kNaN, -kNaN})
    v.push_back(t);
  std::mt19937 rng(1234);
  std::uniform_int_distribution<uint32_t> exp(100, 140), mant(0, 0x7FFFFF), sign(0, 1);
  for (int i = 0; i < 200000; ++i)
    v.push_back(from_bits((sign(rng) << 31) | (exp(rng) << 23) | mant(rng)));
  std::uniform_int_distribution<uint32_t> any;
  for (int i = 0; i < 50000; ++i) v.push_back(from_bits(any(rng)));
  return v;
}

// ---------------------------------------------------------------------------------------------
// E4M3

TEST(E4m3, MethodsMdVectors) {
  EXPECT_EQ(e4m3_encode_rne(448.0f), 0x7E);
  EXPECT_EQ(e4m3_encode_rne(464.0f), 0x7E);  // tie between 448 and 480(NaN) goes to even 448
  EXPECT_EQ(e4m3_encode_rne(300.0f), 0x79);  // = 288
  EXPECT_EQ(e4m3_encode_rne(1.0625f), 0x38);  // 1.0, tie to even
  EXPECT_EQ(e4m3_encode_rne(1.1875f), 0x3A);  // 1.25, tie to even
  EXPECT_EQ(e4m3_encode_rne(std::ldexp(1.0f, -10)), 0x00);  // half the smallest subnormal: tie to 0
  EXPECT_EQ(e4m3_encode_rne(0.75f * std::ldexp(1.0f, -9)), 0x01);
  EXPECT_EQ(e4m3_decode(0x79), 288.0f);
  EXPECT_EQ(e4m3_decode(0x7E), 448.0f);
  EXPECT_EQ(e4m3_decode(0x38), 1.0f);
  EXPECT_EQ(e4m3_decode(0x3A), 1.25f);
  EXPECT_EQ(e4m3_decode(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(e4m3_decode(0x08), std::ldexp(1.0f, -6));
  EXPECT_TRUE(std::isnan(e4m3_decode(0x7F)));
  EXPECT_TRUE(std::isnan(e4m3_decode(0xFF)));
  EXPECT_EQ(bits(e4m3_decode(0x80)), bits(-0.0f));
}

TEST(E4m3, PyTorchCastIsNotSaturatingButOursIs) {
  EXPECT_EQ(e4m3_encode_rne(479.99f), 0x7F);  // (464, 480) rounds up into NaN in PyTorch's cast
  EXPECT_EQ(e4m3_encode_rne(480.0f), 0x7F);
  EXPECT_EQ(e4m3_encode_rne(kInf), 0x7F);
  EXPECT_EQ(e4m3_encode_rne(-1000.0f), 0xFF);
  EXPECT_EQ(e4m3_encode_sat(479.99f), 0x7E);
  EXPECT_EQ(e4m3_encode_sat(1e30f), 0x7E);
  EXPECT_EQ(e4m3_encode_sat(kInf), 0x7E);
  EXPECT_EQ(e4m3_encode_sat(-kInf), 0xFE);
  EXPECT_EQ(e4m3_encode_sat(kNaN), 0x7F);
  EXPECT_EQ(e4m3_encode_sat(-kNaN), 0xFF);
  EXPECT_EQ(e4m3_round_sat(-500.0f), -448.0f);
}

TEST(E4m3, SubnormalTiesToEven) {
  const float u = std::ldexp(1.0f, -9);
  EXPECT_EQ(e4m3_encode_sat(1.5f * u), 0x02);
  EXPECT_EQ(e4m3_encode_sat(2.5f * u), 0x02);
  EXPECT_EQ(e4m3_encode_sat(3.5f * u), 0x04);
  EXPECT_EQ(e4m3_encode_sat(7.5f * u), 0x08);  // carries into the smallest normal 2^-6
  EXPECT_EQ(e4m3_encode_sat(-0.5f * u), 0x80);
  EXPECT_EQ(e4m3_encode_sat(1e-40f), 0x00);
}

TEST(E4m3, EveryCodeRoundTrips) {
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7F) == 0x7F) continue;
    EXPECT_EQ(e4m3_encode_rne(e4m3_decode(static_cast<uint8_t>(c))), c) << c;
    EXPECT_EQ(e4m3_encode_sat(e4m3_decode(static_cast<uint8_t>(c))), c) << c;
  }
}

// The c10 bit algorithm against a brute-force search: nearest of the 127 non-negative finite
// E4M3 values, ties to the even code (low bit 0).
uint8_t e4m3_brute_force(float x) {
  const float a = std::fabs(x);
  int best = 0;
  double best_d = std::fabs(static_cast<double>(a));
  for (int c = 1; c < 0x7F; ++c) {
    const double d = std::fabs(static_cast<double>(a) - e4m3_decode(static_cast<uint8_t>(c)));
    if (d < best_d || (d == best_d && (c & 1) == 0 && (best & 1) == 1)) {
      best = c;
      best_d = d;
    }
  }
  return static_cast<uint8_t>(best | (std::signbit(x) ? 0x80 : 0));
}

TEST(E4m3, MatchesBruteForceNearestEven) {
  for (float x : sweep_values()) {
    if (std::isnan(x) || std::fabs(x) > 448.0f) continue;
    ASSERT_EQ(e4m3_encode_sat(x), e4m3_brute_force(x)) << x;
  }
}

TEST(E4m3, VectorisedMatchesScalar) {
  std::vector<float> v = sweep_values();
  std::vector<float> round_ref;
  std::vector<float> code_ref;
  for (float x : v) {
    round_ref.push_back(e4m3_round_sat(x));
    code_ref.push_back(e4m3_encode_sat(x));
  }
  at::Tensor t = to_tensor(v);
  expect_same_bits(e4m3_round_sat(t), to_tensor(round_ref));
  EXPECT_TRUE(at::equal(e4m3_encode_sat(t).to(at::kFloat), to_tensor(code_ref)));
  at::Tensor all = at::arange(256, at::kInt).to(at::kByte);
  std::vector<float> dec;
  for (int c = 0; c < 256; ++c) dec.push_back(e4m3_decode(static_cast<uint8_t>(c)));
  expect_same_bits(e4m3_decode(all), to_tensor(dec));
}

// ---------------------------------------------------------------------------------------------
// E2M1

TEST(E2m1, EveryTieRoundsToEven) {
  EXPECT_EQ(e2m1_encode(0.25f), 0);  // -> 0
  EXPECT_EQ(e2m1_encode(0.75f), 2);  // -> 1
  EXPECT_EQ(e2m1_encode(1.25f), 2);  // -> 1
  EXPECT_EQ(e2m1_encode(1.75f), 4);  // -> 2
  EXPECT_EQ(e2m1_encode(2.5f), 4);   // -> 2
  EXPECT_EQ(e2m1_encode(3.5f), 6);   // -> 4
  EXPECT_EQ(e2m1_encode(5.0f), 6);   // -> 4
  EXPECT_EQ(e2m1_encode(-0.75f), 10);
  EXPECT_EQ(e2m1_encode(-3.5f), 14);
  EXPECT_EQ(e2m1_encode(-5.0f), 14);
  EXPECT_EQ(e2m1_encode(std::nextafter(0.25f, 1.0f)), 1);
  EXPECT_EQ(e2m1_encode(std::nextafter(5.0f, 6.0f)), 7);
  EXPECT_EQ(e2m1_encode(std::nextafter(0.75f, 0.0f)), 1);
}

TEST(E2m1, SaturatesAndKeepsSign) {
  EXPECT_EQ(e2m1_encode(6.0f), 7);
  EXPECT_EQ(e2m1_encode(7.0f), 7);
  EXPECT_EQ(e2m1_encode(1e30f), 7);
  EXPECT_EQ(e2m1_encode(kInf), 7);
  EXPECT_EQ(e2m1_encode(-kInf), 15);
  EXPECT_EQ(e2m1_encode(-0.1f), 8);  // -0
  EXPECT_EQ(e2m1_encode(-0.0f), 8);
  EXPECT_EQ(e2m1_encode(0.0f), 0);
  const float values[16] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6, -0.0f, -0.5f, -1, -1.5f, -2, -3, -4, -6};
  for (int c = 0; c < 16; ++c) {
    EXPECT_EQ(bits(e2m1_decode(static_cast<uint8_t>(c))), bits(values[c])) << c;
    EXPECT_EQ(e2m1_encode(values[c]), c) << c;
  }
  EXPECT_TRUE(std::isnan(e2m1_round(kNaN)));
}

TEST(E2m1, VectorisedMatchesScalar) {
  std::vector<float> v = sweep_values();
  for (int i = -1400; i <= 1400; ++i) v.push_back(static_cast<float>(i) / 200.0f);  // dense 0..7
  std::vector<float> round_ref, code_ref;
  for (float x : v) {
    round_ref.push_back(e2m1_round(x));
    code_ref.push_back(std::isnan(x) ? -1.0f : e2m1_encode(x));
  }
  at::Tensor t = to_tensor(v);
  expect_same_bits(e2m1_round(t), to_tensor(round_ref));
  at::Tensor codes = e2m1_encode(t).to(at::kFloat);
  at::Tensor ref = to_tensor(code_ref);
  at::Tensor finite = ref >= 0;  // NaN codes are unspecified
  EXPECT_TRUE(at::equal(codes.masked_select(finite), ref.masked_select(finite)));
  at::Tensor all = at::arange(16, at::kInt).to(at::kByte);
  std::vector<float> dec;
  for (int c = 0; c < 16; ++c) dec.push_back(e2m1_decode(static_cast<uint8_t>(c)));
  expect_same_bits(e2m1_decode(all), to_tensor(dec));
}

TEST(Nibbles, ElementTwoIInLowNibble) {
  at::Tensor codes = at::tensor({1, 2, 3, 4, 15, 8}, at::kByte).reshape({1, 6});
  at::Tensor packed = pack_nibbles(codes);
  ASSERT_EQ(packed.sizes(), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(packed[0][0].item<int>(), 0x21);
  EXPECT_EQ(packed[0][1].item<int>(), 0x43);
  EXPECT_EQ(packed[0][2].item<int>(), 0x8F);
  EXPECT_TRUE(at::equal(unpack_nibbles(packed), codes));
}

TEST(Nibbles, PackedDecodeIsDecodeOfUnpacked) {
  // Every byte value, as two rows of 128: the one-lookup decode equals the two-step one, bit for bit.
  const at::Tensor packed = at::arange(256, at::kInt).to(at::kByte).reshape({2, 128});
  const at::Tensor got = e2m1_decode_packed(packed);
  ASSERT_EQ(got.sizes(), (std::vector<int64_t>{2, 256}));
  expect_same_bits(got, e2m1_decode(unpack_nibbles(packed)));
  EXPECT_EQ(got[0][2 * 0x21].item<float>(), 0.5f);      // low nibble 1 first
  EXPECT_EQ(got[0][2 * 0x21 + 1].item<float>(), 1.0f);  // then high nibble 2
}

// ---------------------------------------------------------------------------------------------
// E8M0

TEST(E8m0, MethodsMdExamples) {
  EXPECT_EQ(e8m0_floor(7.0f), 127);   // 2^0: 7 clips to 6
  EXPECT_EQ(e8m0_rceil(7.0f), 128);   // 2^1: 3.5 -> 4
  EXPECT_EQ(e8m0_floor(12.5f), 128);  // 2^1: 6.25 -> 6
  EXPECT_EQ(e8m0_rceil(12.5f), 129);  // 2^2: 3.125 -> 3
  EXPECT_EQ(e8m0_rceil(6.0f), 127);   // 6 * (1/6.f) rounds to exactly 1
  EXPECT_EQ(e8m0_floor(4.0f), 127);
  EXPECT_EQ(e8m0_floor(3.99f), 126);
  EXPECT_EQ(e8m0_floor(0.0f), 0);
  EXPECT_EQ(e8m0_rceil(0.0f), 0);
  EXPECT_EQ(e8m0_floor(1e-40f), 0);
  EXPECT_EQ(e8m0_floor(3.4e38f), 252);  // 2^127 has exponent field 254
  EXPECT_EQ(e8m0_rceil(3.4e38f), 253);  // 3.4e38/6 = 1.33 * 2^125 -> 2^126
  EXPECT_EQ(e8m0_decode(127), 1.0f);
  EXPECT_EQ(e8m0_decode(129), 4.0f);
  EXPECT_EQ(e8m0_decode(0), std::ldexp(1.0f, -127));
  EXPECT_EQ(e8m0_decode(254), std::ldexp(1.0f, 127));
  EXPECT_TRUE(std::isnan(e8m0_decode(255)));
}

TEST(E8m0, RceilOfSubnormals) {
  // v = amax/6 subnormal: code 1 (2^-126) iff v > 2^-127, else code 0 (2^-127).
  const float two_m127 = std::ldexp(1.0f, -127);
  EXPECT_EQ(e8m0_rceil(two_m127 * 6.0f), 0);
  EXPECT_EQ(e8m0_rceil(two_m127 * 6.5f), 1);
  EXPECT_EQ(e8m0_rceil(1e-45f), 0);
}

TEST(E8m0, RceilIsExactCeilAndFloorIsExactFloor) {
  for (float a : sweep_values()) {
    if (!std::isfinite(a) || a <= 0.0f) continue;
    const float v = a * (1.0f / 6.0f);
    if (v < std::ldexp(1.0f, -126)) continue;  // subnormals covered above
    const int x = e8m0_rceil(a) - 127;
    EXPECT_GE(std::ldexp(1.0, x), static_cast<double>(v)) << a;
    if (x > -127) {
      EXPECT_LT(std::ldexp(1.0, x - 1), static_cast<double>(v)) << a;
    }
    if (a < std::ldexp(1.0f, -126)) continue;
    const int xf = e8m0_floor(a) - 127 + 2;
    if (xf > -125) {
      EXPECT_LE(std::ldexp(1.0, xf), static_cast<double>(a)) << a;
      EXPECT_GT(std::ldexp(1.0, xf + 1), static_cast<double>(a)) << a;
    }
  }
}

TEST(E8m0, VectorisedMatchesScalar) {
  std::vector<float> v;
  for (float a : sweep_values())
    if (std::isfinite(a)) v.push_back(std::fabs(a));
  std::vector<float> fl, rc;
  for (float a : v) {
    fl.push_back(e8m0_floor(a));
    rc.push_back(e8m0_rceil(a));
  }
  at::Tensor t = to_tensor(v);
  EXPECT_TRUE(at::equal(e8m0_floor(t).to(at::kFloat), to_tensor(fl)));
  EXPECT_TRUE(at::equal(e8m0_rceil(t).to(at::kFloat), to_tensor(rc)));
  at::Tensor all = at::arange(256, at::kInt).to(at::kByte);
  std::vector<float> dec;
  for (int c = 0; c < 256; ++c) dec.push_back(e8m0_decode(static_cast<uint8_t>(c)));
  expect_same_bits(e8m0_decode(all), to_tensor(dec));
}

TEST(Codecs, CudaMatchesScalar) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  std::vector<float> v = sweep_values();
  at::Tensor t = to_tensor(v);
  at::Tensor c = t.to(at::kCUDA);
  expect_same_bits(e4m3_round_sat(c).cpu(), e4m3_round_sat(t));
  EXPECT_TRUE(at::equal(e4m3_encode_sat(c).cpu(), e4m3_encode_sat(t)));
  expect_same_bits(e2m1_round(c).cpu(), e2m1_round(t));
  at::Tensor a = t.abs();
  a = at::where(at::isfinite(a), a, at::zeros_like(a));
  EXPECT_TRUE(at::equal(e8m0_floor(a.to(at::kCUDA)).cpu(), e8m0_floor(a)));
  EXPECT_TRUE(at::equal(e8m0_rceil(a.to(at::kCUDA)).cpu(), e8m0_rceil(a)));
}

}  // namespace
}  // namespace pqlab::methods::codecs
