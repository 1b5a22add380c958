// Format `fp8_e4m3` (methods/formats/fp8_e4m3.cpp): methods.md 9.2 vectors through the format,
// saturation (unlike PyTorch's cast), per-group scales, NaN/Inf policy, encode/decode, grouping,
// and fast path == scalar reference bit for bit.
#include "tests/common/tensor_checks.h"
#include "methods/formats/fp8_e4m3.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "framework/core/error.h"

namespace pqlab::methods {
namespace {

using test::values;
using test::same_bits;
using test::row;

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();
const config::GroupSize kChannel(config::GroupSize::kRow);
const config::GroupSize kTensor(config::GroupSize::kTensor);

Fp8E4m3Format make(config::GroupSize g, bool scaled = true, bool pad = false) {
  Fp8E4m3Config c;
  c.group_size = g;
  c.scaled = scaled;
  c.pad = pad;
  return Fp8E4m3Format(c);
}

at::Tensor test_data(std::vector<int64_t> shape, uint64_t seed) {
  at::manual_seed(seed);
  at::Tensor x = at::randn(shape) * at::exp(at::randn(shape) * 3);  // wide dynamic range
  return x;
}

TEST(Fp8E4m3Format, UnscaledCastVectors) {
  Fp8E4m3Format f = make(kTensor, false);
  const float u = std::ldexp(1.0f, -9);
  at::Tensor x = row({448.0f, 464.0f, 300.0f, 1.0625f, 1.1875f, std::ldexp(1.0f, -10), 0.75f * u,
                      479.99f, 1000.0f, kInf, -kInf, kNaN, -300.0f});
  std::vector<float> y = values(f.fake_quant(x));
  const std::vector<float> expect = {448, 448, 288, 1, 1.25f, 0, u, 448, 448, 448, -448, kNaN, -288};
  for (size_t i = 0; i < expect.size(); ++i) {
    if (std::isnan(expect[i])) {
      EXPECT_TRUE(std::isnan(y[i]));
    } else {
      EXPECT_EQ(y[i], expect[i]) << i;
    }
  }
  EncodedTensor e = f.encode(x);
  EXPECT_EQ(e.codes.scalar_type(), at::kByte);
  EXPECT_EQ(values(e.codes.to(at::kFloat)),
            (std::vector<float>{0x7E, 0x7E, 0x79, 0x38, 0x3A, 0x00, 0x01, 0x7E, 0x7E, 0x7E, 0xFE,
                                0x7F, 0xF9}));
  EXPECT_EQ(e.scales.item<float>(), 1.0f);
  EXPECT_TRUE(same_bits(f.decode(e), f.fake_quant(x)));
  EXPECT_TRUE(same_bits(f.fake_quant(x), f.fake_quant_ref(x)));
}

TEST(Fp8E4m3Format, ScaledPerTensor) {
  Fp8E4m3Format f = make(kTensor);
  // amax 896 -> s = 2: 896 -> 448, 600 -> 300 -> 288 -> 576, 3 -> 1.5 -> 3.
  at::Tensor x = row({896.0f, 600.0f, 3.0f, -896.0f});
  EXPECT_EQ(values(f.fake_quant(x)), (std::vector<float>{896, 576, 3, -896}));
  EncodedTensor e = f.encode(x);
  EXPECT_EQ(e.scales.sizes(), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(e.scales.item<float>(), 2.0f);
  EXPECT_EQ(e.codes[0][0].item<int>(), 0x7E);
  // The scale is amax/448 by division, not multiplication by 1/448.
  at::Tensor odd = row({1.0f, 0.3f});
  EXPECT_EQ(f.encode(odd).scales.item<float>(), 1.0f / 448.0f);
}

TEST(Fp8E4m3Format, ZeroGroupAndTinyScale) {
  Fp8E4m3Format f = make(config::GroupSize(4));
  at::Tensor x = row({0, 0, 0, 0, 1e-44f, 0, -1e-44f, 0});
  EncodedTensor e = f.encode(x);
  EXPECT_EQ(e.scales[0][0].item<float>(), 1.0f);  // amax == 0
  EXPECT_GT(e.scales[0][1].item<float>(), 0.0f);  // amax/448 underflows: smallest subnormal
  std::vector<float> y = values(f.fake_quant(x));
  for (float v : y) EXPECT_FALSE(std::isnan(v));
  EXPECT_TRUE(same_bits(f.fake_quant(x), f.fake_quant_ref(x)));
  EXPECT_TRUE(same_bits(f.decode(e), f.fake_quant(x)));
}

TEST(Fp8E4m3Format, SubnormalsInsideAGroup) {
  // s = 1: elements below 2^-6 land on the subnormal grid (multiples of 2^-9), ties to even.
  Fp8E4m3Format f = make(kChannel);
  const float u = std::ldexp(1.0f, -9);
  at::Tensor x = row({448.0f, 1.5f * u, 2.5f * u, 0.4f * u, -7.5f * u});
  EXPECT_EQ(values(f.fake_quant(x)), (std::vector<float>{448, 2 * u, 2 * u, 0, -8 * u}));
}

TEST(Fp8E4m3Format, RelativeErrorWithinHalfUlp) {
  Fp8E4m3Format f = make(config::GroupSize(32));
  at::Tensor x = test_data({16, 256}, 2);
  EncodedTensor e = f.encode(x);
  at::Tensor s = e.scales.unsqueeze(-1).expand({16, 8, 32}).reshape({16, 256});
  at::Tensor y = f.fake_quant(x);
  at::Tensor normal = (x / s).abs() >= std::ldexp(1.0f, -6);
  at::Tensor rel = ((y - x).abs() / x.abs()).masked_select(normal);
  EXPECT_LE(rel.max().item<float>(), 1.0f / 16.0f * (1 + 1e-6f));  // 3 mantissa bits
  at::Tensor sub = ((y - x).abs() / s).masked_select(normal.logical_not());
  EXPECT_LE(sub.max().item<float>(), std::ldexp(1.0f, -10) * (1 + 1e-5f));
}

TEST(Fp8E4m3Format, NanAndInfPolicy) {
  Fp8E4m3Format f = make(config::GroupSize(4));
  at::Tensor x = row({2.0f, kNaN, kInf, -1.0f, 1.0f, -kInf, 0.5f, kNaN});
  at::Tensor y = f.fake_quant(x);
  std::vector<float> v = values(y);
  EXPECT_TRUE(std::isnan(v[1]) && std::isnan(v[7]));
  EXPECT_FLOAT_EQ(v[0], 2.0f);  // amax from finite values only: 2 -> s = 2/448
  EXPECT_EQ(v[2], v[0]);        // +inf saturates to 448 * s, like the amax element
  EXPECT_EQ(v[5], -v[4]);       // -inf -> -448 * s, s = 1/448
  EncodedTensor e = f.encode(x);  // E4M3 has a NaN code: no throw
  EXPECT_EQ(e.codes[0][1].item<int>(), 0x7F);
  EXPECT_EQ(e.codes[0][2].item<int>(), 0x7E);
  EXPECT_EQ(e.codes[0][5].item<int>(), 0xFE);
  EXPECT_TRUE(same_bits(f.decode(e), y));
  EXPECT_TRUE(same_bits(y, f.fake_quant_ref(x)));
}

TEST(Fp8E4m3Format, FastEqualsReference) {
  at::Tensor x = test_data({4, 3, 128}, 5);
  x.view({-1})[7] = 0.0f;
  x.view({-1})[9] = 1e30f;
  for (config::GroupSize g : {config::GroupSize(16), config::GroupSize(128), kChannel, kTensor})
    for (bool scaled : {true, false}) {
      Fp8E4m3Format f = make(g, scaled);
      at::Tensor y = f.fake_quant(x);
      EXPECT_TRUE(same_bits(y, f.fake_quant_ref(x))) << f.describe();
      EXPECT_TRUE(same_bits(f.decode(f.encode(x)), y)) << f.describe();
    }
}

TEST(Fp8E4m3Format, GroupingAndPadding) {
  at::Tensor x = test_data({3, 100}, 6);
  Fp8E4m3Format f = make(config::GroupSize(64));
  try {
    f.fake_quant(x);
    FAIL() << "ragged K accepted";
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "fp8_e4m3: last dimension K=100 is not a multiple of group_size 64 "
                           "(set pad: true to zero-pad the last group)");
  }
  Fp8E4m3Format p = make(config::GroupSize(64), true, true);
  at::Tensor y = p.fake_quant(x);
  EXPECT_TRUE(same_bits(y, f.fake_quant(at::constant_pad_nd(x, {0, 28}, 0)).narrow(1, 0, 100)));
  EXPECT_TRUE(same_bits(y, p.fake_quant_ref(x)));
  EncodedTensor e = p.encode(x);
  EXPECT_EQ(e.codes.sizes(), (std::vector<int64_t>{3, 128}));
  EXPECT_EQ(e.scales.sizes(), (std::vector<int64_t>{3, 2}));
  EXPECT_TRUE(same_bits(p.decode(e), y));
  EXPECT_EQ(make(kChannel).encode(x).scales.sizes(), (std::vector<int64_t>{3, 1}));
  // Unscaled casts ignore group_size, so ragged K is fine there.
  EXPECT_NO_THROW(make(config::GroupSize(64), false).fake_quant(x));
}

TEST(Fp8E4m3Format, LowPrecisionInputs) {
  at::Tensor x32 = test_data({4, 64}, 8);
  for (at::ScalarType dt : {at::kBFloat16, at::kHalf}) {
    at::Tensor x = x32.to(dt);
    Fp8E4m3Format f = make(config::GroupSize(32));
    at::Tensor y = f.fake_quant(x);
    EXPECT_EQ(y.scalar_type(), dt);
    EXPECT_TRUE(same_bits(y, f.fake_quant_ref(x.to(at::kFloat)).to(dt)));
    EXPECT_TRUE(same_bits(f.decode(f.encode(x)), y));
  }
}

TEST(Fp8E4m3Format, DescribeAndBits) {
  EXPECT_EQ(make(kTensor).describe(), "fp8_e4m3 tensor");
  EXPECT_EQ(make(config::GroupSize(128)).describe(), "fp8_e4m3 g128");
  EXPECT_EQ(make(kTensor, false).describe(), "fp8_e4m3 unscaled");
  EXPECT_DOUBLE_EQ(make(config::GroupSize(128)).bits_per_element(), 8.25);
  EXPECT_DOUBLE_EQ(make(kTensor).bits_per_element(), 8.0);
}

TEST(Fp8E4m3Format, Cuda) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  at::Tensor x = test_data({5, 256}, 11);
  Fp8E4m3Format f = make(config::GroupSize(32));
  at::Tensor y = f.fake_quant(x.cuda());
  EXPECT_TRUE(same_bits(y.cpu(), f.fake_quant_ref(x)));
  EXPECT_TRUE(same_bits(f.decode(f.encode(x.cuda())).cpu(), y.cpu()));
}

}  // namespace
}  // namespace pqlab::methods
