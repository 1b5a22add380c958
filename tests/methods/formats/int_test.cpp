// Format `int` (methods/formats/int.cpp): RNE ties, zero and constant groups, saturation, the
// NaN/Inf policy, asymmetric zero points, scale dtypes, grouping/padding, encode/decode, and
// fast path == scalar reference bit for bit.
#include "tests/common/tensor_checks.h"
#include "methods/formats/int.h"

#include <ATen/ATen.h>
#include <c10/util/Half.h>
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

IntFormat make(int64_t bits, bool sym, config::GroupSize g, bool pad = false,
               const std::string& sd = "fp32") {
  IntConfig c;
  c.bits = bits;
  c.symmetric = sym;
  c.group_size = g;
  c.pad = pad;
  c.scale_dtype = sd;
  return IntFormat(c);
}

/// Same float32 bit patterns (any NaN equals any NaN).

at::Tensor test_data(std::vector<int64_t> shape, uint64_t seed) {
  at::manual_seed(seed);
  at::Tensor x = at::randn(shape) * 3;
  x.view({-1}).narrow(0, 0, 4).mul_(50);  // a few outliers
  return x;
}

TEST(IntFormat, SymmetricTiesRoundHalfToEven) {
  // amax = 7 -> s = 1 for INT4, so x is in units of s.
  IntFormat f = make(4, true, config::GroupSize(8));
  at::Tensor x = row({0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 7.0f, 3.5f});
  EXPECT_EQ(values(f.fake_quant(x)), (std::vector<float>{0, 2, 2, 0, -2, -2, 7, 4}));
  EXPECT_TRUE(same_bits(f.fake_quant(x), f.fake_quant_ref(x)));
}

TEST(IntFormat, ScaleIsAmaxOverQmaxByDivision) {
  IntFormat f = make(4, true, kChannel);
  at::Tensor x = row({1.0f, -0.3f, 0.2f, 0.05f});
  EncodedTensor e = f.encode(x);
  const float s = 1.0f / 7.0f;
  EXPECT_EQ(e.scales.item<float>(), s);
  EXPECT_EQ(values(e.codes.to(at::kFloat)),
            (std::vector<float>{7, std::nearbyint(-0.3f / s), std::nearbyint(0.2f / s),
                                std::nearbyint(0.05f / s)}));
  EXPECT_EQ(values(f.fake_quant(x))[1], s * std::nearbyint(-0.3f / s));
  // INT3: qmax = 3, -4 is in range but never produced by an absmax scale.
  IntFormat f3 = make(3, true, kChannel);
  EXPECT_EQ(values(f3.encode(row({-1.0f, 1.0f, 0.5f})).codes.to(at::kFloat)),
            (std::vector<float>{-3, 3, 2}));
}

TEST(IntFormat, ZeroAndConstantGroups) {
  IntFormat f = make(4, true, config::GroupSize(4));
  at::Tensor x = row({0, 0, 0, 0, 3, 3, 3, 3, -2, -2, -2, -2});
  at::Tensor y = f.fake_quant(x);
  EncodedTensor e = f.encode(x);
  EXPECT_EQ(e.scales[0][0].item<float>(), 1.0f);  // all-zero group -> s = 1, q = 0
  std::vector<float> v = values(y);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(v[i], 0.0f);
  for (int i = 4; i < 8; ++i) EXPECT_NEAR(v[i], 3.0f, 1e-6);
  for (int i = 8; i < 12; ++i) EXPECT_NEAR(v[i], -2.0f, 1e-6);
  EXPECT_TRUE(same_bits(y, f.fake_quant_ref(x)));

  IntFormat a = make(4, false, config::GroupSize(4));
  at::Tensor ya = a.fake_quant(x);
  EncodedTensor ea = a.encode(x);
  EXPECT_EQ(ea.scales[0][0].item<float>(), 1.0f);  // max == min == 0
  std::vector<float> va = values(ya);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(va[i], 0.0f);
  for (int i = 4; i < 8; ++i) EXPECT_NEAR(va[i], 3.0f, 1e-6);   // range [0, 3]: z = 0
  for (int i = 8; i < 12; ++i) EXPECT_NEAR(va[i], -2.0f, 1e-6);  // range [-2, 0]: z = 15
  EXPECT_EQ(ea.zero_points[0][1].item<int>(), 0);
  EXPECT_EQ(ea.zero_points[0][2].item<int>(), 15);
  EXPECT_TRUE(same_bits(ya, a.fake_quant_ref(x)));
}

TEST(IntFormat, AsymmetricZeroPointAndTies) {
  // min -3, max 12, 4 bits: s = 15/15 = 1, z = 3.
  IntFormat f = make(4, false, kChannel);
  at::Tensor x = row({-3.0f, 12.0f, 0.5f, 1.5f, 2.5f, -2.5f, 0.0f, 11.5f});
  EncodedTensor e = f.encode(x);
  EXPECT_EQ(e.scales.item<float>(), 1.0f);
  EXPECT_EQ(e.zero_points.item<int>(), 3);
  EXPECT_EQ(e.codes.scalar_type(), at::kByte);
  EXPECT_EQ(values(e.codes.to(at::kFloat)), (std::vector<float>{0, 15, 3, 5, 5, 1, 3, 15}));
  EXPECT_EQ(values(f.fake_quant(x)), (std::vector<float>{-3, 12, 0, 2, 2, -2, 0, 12}));
  // All-positive group: min is raised to 0, so z = 0 and 0 stays exact.
  EncodedTensor p = f.encode(row({1.0f, 16.0f, 0.0f}));
  EXPECT_EQ(p.zero_points.item<int>(), 0);
  EXPECT_EQ(values(f.fake_quant(row({1.0f, 16.0f, 0.0f})))[2], 0.0f);
  // 8-bit asymmetric codes reach 255 (hence uint8 codes).
  IntFormat f8 = make(8, false, kChannel);
  EXPECT_EQ(f8.encode(row({0.0f, 255.0f})).codes[0][1].item<int>(), 255);
}

TEST(IntFormat, WithinHalfAStep) {
  for (bool sym : {true, false}) {
    IntFormat f = make(4, sym, config::GroupSize(32));
    at::Tensor x = test_data({8, 128}, 1);
    EncodedTensor e = f.encode(x);
    at::Tensor s = e.scales.unsqueeze(-1).expand({8, 4, 32}).reshape({8, 128});
    at::Tensor err = (f.fake_quant(x) - x).abs();
    EXPECT_TRUE((err <= s * 0.5f * (1 + 1e-5f)).all().item<bool>()) << "sym " << sym;
  }
}

TEST(IntFormat, SaturationAndInf) {
  IntFormat f = make(4, true, kChannel);
  at::Tensor x = row({7.0f, kInf, -kInf, 1.0f});
  EXPECT_EQ(values(f.fake_quant(x)), (std::vector<float>{7, 7, -8, 1}));
  EXPECT_EQ(values(f.encode(x).codes.to(at::kFloat)), (std::vector<float>{7, 7, -8, 1}));
  IntFormat a = make(4, false, kChannel);
  at::Tensor xa = row({-3.0f, 12.0f, kInf, -kInf});
  EXPECT_EQ(values(a.encode(xa).codes.to(at::kFloat)), (std::vector<float>{0, 15, 15, 0}));
  EXPECT_TRUE(same_bits(a.fake_quant(xa), a.fake_quant_ref(xa)));
  EXPECT_TRUE(same_bits(f.fake_quant(x), f.fake_quant_ref(x)));
}

TEST(IntFormat, NanPolicy) {
  for (bool sym : {true, false}) {
    IntFormat f = make(4, sym, config::GroupSize(4));
    at::Tensor x = row({7.0f, kNaN, 1.0f, 2.0f, 3.0f, 1.0f, 1.0f, kNaN});
    at::Tensor y = f.fake_quant(x);
    std::vector<float> v = values(y);
    EXPECT_TRUE(std::isnan(v[1]) && std::isnan(v[7]));
    at::Tensor clean = x.clone();
    clean[0][1] = 0.0f;
    clean[0][7] = 0.0f;
    std::vector<float> vc = values(f.fake_quant(clean));
    for (int i : {0, 2, 3, 4, 5, 6}) EXPECT_EQ(v[i], vc[i]) << i;  // scales ignore NaN
    EXPECT_TRUE(same_bits(y, f.fake_quant_ref(x)));
    try {
      f.encode(x.reshape({2, 4}));
      FAIL() << "encode accepted NaN";
    } catch (const RuntimeError& e) {
      EXPECT_STREQ(e.what(), "int: cannot encode NaN at index [0, 1] (the format has no NaN code)");
    }
  }
}

TEST(IntFormat, FastEqualsReferenceAcrossConfigs) {
  at::Tensor x = test_data({3, 5, 192}, 7);
  x.view({-1})[100] = 0.0f;
  for (int64_t bits : {2, 3, 4, 8})
    for (bool sym : {true, false})
      for (config::GroupSize g : {config::GroupSize(64), config::GroupSize(32),
                                  kChannel,
                                  kTensor})
        for (const char* sd : {"fp32", "fp16", "bf16"}) {
          IntFormat f = make(bits, sym, g, false, sd);
          at::Tensor y = f.fake_quant(x);
          EXPECT_TRUE(same_bits(y, f.fake_quant_ref(x))) << f.describe();
          EXPECT_TRUE(same_bits(f.decode(f.encode(x)), y)) << f.describe();
        }
}

TEST(IntFormat, ScaleDtypeRoundsTheScale) {
  IntFormat f = make(4, true, kChannel, false, "fp16");
  at::Tensor x = row({1.0f, 0.3f});
  const float s16 = static_cast<float>(c10::Half(1.0f / 7.0f));
  ASSERT_NE(s16, 1.0f / 7.0f);
  EXPECT_EQ(f.encode(x).scales.item<float>(), s16);
  EXPECT_EQ(values(f.fake_quant(x))[1], s16 * std::nearbyint(0.3f / s16));
  // A scale that underflows fp16 becomes its smallest subnormal instead of 0 (no NaN from 0/0).
  at::Tensor tiny = row({1e-10f, 0.0f, -1e-10f});
  std::vector<float> v = values(f.fake_quant(tiny));
  for (float e : v) EXPECT_EQ(e, 0.0f);
  EXPECT_EQ(f.encode(tiny).scales.item<float>(), std::ldexp(1.0f, -24));
  EXPECT_TRUE(same_bits(f.fake_quant(tiny), f.fake_quant_ref(tiny)));
  // One that overflows fp16 saturates to 65504.
  at::Tensor huge = row({1e6f, 1.0f});
  EXPECT_EQ(f.encode(huge).scales.item<float>(), 65504.0f);
  EXPECT_TRUE(same_bits(f.fake_quant(huge), f.fake_quant_ref(huge)));
}

TEST(IntFormat, GroupLayouts) {
  at::Tensor x = test_data({2, 3, 128}, 3);
  EXPECT_EQ(make(4, true, config::GroupSize(64)).encode(x).scales.sizes(),
            (std::vector<int64_t>{6, 2}));
  EncodedTensor ch = make(4, true, kChannel).encode(x);
  EXPECT_EQ(ch.scales.sizes(), (std::vector<int64_t>{6, 1}));
  EXPECT_EQ(ch.group_size, 128);
  EncodedTensor t = make(8, true, kTensor).encode(x);
  EXPECT_EQ(t.scales.sizes(), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(t.codes.sizes(), (std::vector<int64_t>{6, 128}));
  EXPECT_EQ(t.codes.scalar_type(), at::kChar);
  EXPECT_FLOAT_EQ(t.scales.item<float>(), x.abs().max().item<float>() / 127.0f);
  // Per-channel = each row quantized on its own.
  IntFormat pc = make(4, true, kChannel);
  at::Tensor rows = x.reshape({6, 128});
  at::Tensor y = pc.fake_quant(x).reshape({6, 128});
  for (int64_t r = 0; r < 6; ++r)
    EXPECT_TRUE(same_bits(y[r].unsqueeze(0), pc.fake_quant(rows[r].unsqueeze(0))));
}

TEST(IntFormat, RaggedKNeedsPad) {
  IntFormat f = make(4, true, config::GroupSize(64));
  at::Tensor x = test_data({3, 100}, 5);
  try {
    f.fake_quant(x);
    FAIL() << "ragged K accepted";
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "int: last dimension K=100 is not a multiple of group_size 64 (set pad: "
                           "true to zero-pad the last group)");
  }
  EXPECT_THROW(f.encode(x), UsageError);
  EXPECT_THROW(f.fake_quant_ref(x), UsageError);

  IntFormat p = make(4, true, config::GroupSize(64), true);
  at::Tensor y = p.fake_quant(x);
  ASSERT_EQ(y.sizes(), x.sizes());
  at::Tensor padded = at::constant_pad_nd(x, {0, 28}, 0);
  EXPECT_TRUE(same_bits(y, f.fake_quant(padded).narrow(1, 0, 100)));
  EXPECT_TRUE(same_bits(y, p.fake_quant_ref(x)));
  EncodedTensor e = p.encode(x);
  EXPECT_EQ(e.padded_k, 128);
  EXPECT_EQ(e.codes.sizes(), (std::vector<int64_t>{3, 128}));
  EXPECT_TRUE(same_bits(p.decode(e), y));
}

TEST(IntFormat, LowPrecisionInputs) {
  at::Tensor x32 = test_data({4, 64}, 9);
  for (at::ScalarType dt : {at::kBFloat16, at::kHalf}) {
    at::Tensor x = x32.to(dt);
    for (bool sym : {true, false}) {
      IntFormat f = make(4, sym, config::GroupSize(32));
      at::Tensor y = f.fake_quant(x);
      EXPECT_EQ(y.scalar_type(), dt);
      EXPECT_TRUE(same_bits(y, f.fake_quant_ref(x.to(at::kFloat)).to(dt)));
      EncodedTensor e = f.encode(x);
      EXPECT_EQ(e.dtype, dt);
      EXPECT_TRUE(same_bits(f.decode(e), y));
      EXPECT_EQ(f.decode(e).scalar_type(), dt);
    }
  }
}

TEST(IntFormat, DescribeAndBits) {
  EXPECT_EQ(make(4, true, config::GroupSize(64)).describe(), "int4 g64 sym");
  EXPECT_EQ(make(8, false, kChannel, false, "fp16").describe(),
            "int8 channel asym fp16-scale");
  EXPECT_DOUBLE_EQ(make(4, true, config::GroupSize(64)).bits_per_element(), 4.5);
  EXPECT_DOUBLE_EQ(make(4, true, config::GroupSize(64), false, "fp16").bits_per_element(), 4.25);
  EXPECT_THROW(make(9, true, config::GroupSize(64)), UsageError);
}

TEST(IntFormat, Cuda) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  at::Tensor x = test_data({5, 256}, 11);
  for (bool sym : {true, false}) {
    IntFormat f = make(4, sym, config::GroupSize(64), false, "fp16");
    at::Tensor y = f.fake_quant(x.cuda());
    EXPECT_TRUE(y.is_cuda());
    EXPECT_TRUE(same_bits(y.cpu(), f.fake_quant_ref(x)));
    EXPECT_TRUE(same_bits(f.decode(f.encode(x.cuda())).cpu(), y.cpu()));
  }
}

}  // namespace
}  // namespace pqlab::methods
