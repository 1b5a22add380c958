// Format `mxfp4` (methods/formats/mxfp4.cpp): methods.md 9.5 examples for the FLOOR and RCEIL
// E8M0 scale rules, ties, zero blocks, NaN/Inf policy, packed nibble order, encode/decode,
// padding, and fast path == scalar reference bit for bit.
#include "tests/common/tensor_checks.h"
#include "methods/formats/mxfp4.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "framework/core/error.h"
#include "methods/formats/codecs.h"

namespace pqlab::methods {
namespace {

using test::values;
using test::bytes;
using test::same_bits;

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

Mxfp4Format make(const std::string& mode = "floor", int64_t g = 32, bool pad = false) {
  Mxfp4Config c;
  c.scale_mode = mode;
  c.group_size = config::GroupSize(g);
  c.pad = pad;
  return Mxfp4Format(c);
}

/// One row of 32-element blocks, each given by its leading values (rest zero).
at::Tensor blocks(std::initializer_list<std::vector<float>> parts) {
  std::vector<float> v;
  for (auto p : parts) {
    p.resize(32, 0.0f);
    v.insert(v.end(), p.begin(), p.end());
  }
  at::Tensor t = at::empty({1, static_cast<int64_t>(v.size())}, at::kFloat);
  std::memcpy(t.data_ptr<float>(), v.data(), v.size() * 4);
  return t;
}

at::Tensor test_data(std::vector<int64_t> shape, uint64_t seed) {
  at::manual_seed(seed);
  return at::randn(shape) * at::exp(at::randn(shape) * 2);
}

TEST(Mxfp4Format, FloorVersusRceil) {
  at::Tensor x = blocks({{7.0f, 3.5f, 1.75f}, {12.5f, -6.25f, 3.0f}});
  Mxfp4Format fl = make("floor");
  Mxfp4Format rc = make("rceil");
  EncodedTensor ef = fl.encode(x), er = rc.encode(x);
  EXPECT_EQ(bytes(ef.scales), (std::vector<int>{127, 128}));  // 2^0, 2^1
  EXPECT_EQ(bytes(er.scales), (std::vector<int>{128, 129}));  // 2^1, 2^2
  std::vector<float> yf = values(fl.fake_quant(x)), yr = values(rc.fake_quant(x));
  // amax 7: FLOOR clips 7 -> 6; RCEIL 7/2 = 3.5 -> 4 (tie to even) -> 8.
  EXPECT_EQ(yf[0], 6.0f);
  EXPECT_EQ(yr[0], 8.0f);
  EXPECT_EQ(yf[1], 4.0f);  // 3.5 -> 4
  EXPECT_EQ(yr[1], 4.0f);  // 1.75 -> 2, times 2
  EXPECT_EQ(yf[2], 2.0f);  // 1.75 -> 2
  EXPECT_EQ(yr[2], 2.0f);  // 0.875 -> 1, times 2
  // amax 12.5: FLOOR 6.25 -> 6 (x̂ 12); RCEIL 12.5/4 = 3.125 -> 3 (x̂ 12).
  EXPECT_EQ(yf[32], 12.0f);
  EXPECT_EQ(yr[32], 12.0f);
  EXPECT_EQ(yf[33], -6.0f);  // -3.125 -> -3
  EXPECT_EQ(yr[33], -6.0f);  // -1.5625 -> -1.5
  EXPECT_EQ(yf[34], 3.0f);   // 3/2 = 1.5 is a code: exact
  EXPECT_EQ(yr[34], 4.0f);   // 3/4 = 0.75 -> 1 (tie to even), times 4
  for (Mxfp4Format* f : {&fl, &rc}) {
    EXPECT_TRUE(same_bits(f->fake_quant(x), f->fake_quant_ref(x)));
    EXPECT_TRUE(same_bits(f->decode(f->encode(x)), f->fake_quant(x)));
  }
}

TEST(Mxfp4Format, ElementTiesAndPackedOrder) {
  // amax 6 -> FLOOR X = 2 - 2 = 0 and RCEIL X = 0: the elements are quantized as given.
  at::Tensor x = blocks({{6, 0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5, -0.25f, -0.75f, -5, 4.9f}});
  for (const char* mode : {"floor", "rceil"}) {
    Mxfp4Format f = make(mode);
    EncodedTensor e = f.encode(x);
    EXPECT_EQ(bytes(e.scales), (std::vector<int>{127})) << mode;
    std::vector<int> q = bytes(codecs::unpack_nibbles(e.codes));
    EXPECT_EQ(std::vector<int>(q.begin(), q.begin() + 12),
              (std::vector<int>{7, 0, 2, 2, 4, 4, 6, 6, 8, 10, 14, 6}));
    EXPECT_EQ(bytes(e.codes)[0], 0x07);  // element 0 low nibble, element 1 high nibble
    EXPECT_EQ(bytes(e.codes)[4], 0xA8);
    EXPECT_EQ(e.codes.sizes(), (std::vector<int64_t>{1, 16}));
  }
}

TEST(Mxfp4Format, ZeroAndTinyBlocks) {
  at::Tensor x = blocks({{}, {1e-40f, -1e-41f}, {3.4e38f, -1e38f}});
  for (const char* mode : {"floor", "rceil"}) {
    Mxfp4Format f = make(mode);
    EncodedTensor e = f.encode(x);
    EXPECT_EQ(bytes(e.scales)[0], 0) << mode;  // zero block -> X = -127 (clamped)
    std::vector<float> y = values(f.fake_quant(x));
    for (int i = 0; i < 32; ++i) EXPECT_EQ(y[i], 0.0f);
    for (float v : y) EXPECT_FALSE(std::isnan(v));
    EXPECT_TRUE(same_bits(f.fake_quant(x), f.fake_quant_ref(x)));
    EXPECT_TRUE(same_bits(f.decode(e), f.fake_quant(x)));
  }
  // FLOOR of 3.4e38 (exponent 127): X = 125; 3.4e38 / 2^125 = 7.99 -> 6.
  EXPECT_EQ(bytes(make("floor").encode(x).scales)[2], 252);
  EXPECT_EQ(values(make("floor").fake_quant(x))[64], 6.0f * std::ldexp(1.0f, 125));
}

TEST(Mxfp4Format, NanAndInfPolicy) {
  at::Tensor x = blocks({{kInf, 1.0f, -kInf, 2.0f, kNaN}, {3.0f}});
  for (const char* mode : {"floor", "rceil"}) {
    Mxfp4Format f = make(mode);
    std::vector<float> y = values(f.fake_quant(x));
    EXPECT_TRUE(std::isnan(y[4]));
    const float sc = codecs::e8m0_decode(std::string(mode) == "floor" ? codecs::e8m0_floor(2.0f)
                                                                     : codecs::e8m0_rceil(2.0f));
    EXPECT_EQ(y[0], 6.0f * sc);  // +inf -> largest code, scale from the finite amax 2
    EXPECT_EQ(y[2], -6.0f * sc);
    EXPECT_TRUE(same_bits(f.fake_quant(x), f.fake_quant_ref(x)));
    try {
      f.encode(x);
      FAIL() << "encode accepted NaN";
    } catch (const RuntimeError& err) {
      EXPECT_STREQ(err.what(),
                   "mxfp4: cannot encode NaN at index [0, 4] (the format has no NaN code)");
    }
  }
}

TEST(Mxfp4Format, RceilWithinHalfAStep) {
  Mxfp4Format f = make("rceil");
  at::Tensor x = test_data({8, 256}, 3);
  EncodedTensor e = f.encode(x);
  at::Tensor sc = codecs::e8m0_decode(e.scales).unsqueeze(-1).expand({8, 8, 32}).reshape({8, 256});
  at::Tensor y = (x / sc).abs();
  EXPECT_LE(y.max().item<float>(), 6.0f);  // RCEIL never clips
  at::Tensor half = at::where(y < 2, at::full_like(y, 0.25f),
                              at::where(y < 4, at::full_like(y, 0.5f), at::full_like(y, 1.0f)));
  at::Tensor err = (f.fake_quant(x) - x).abs();
  EXPECT_TRUE((err <= half * sc).all().item<bool>());
}

TEST(Mxfp4Format, FastEqualsReference) {
  at::Tensor x = test_data({3, 4, 128}, 5);
  x.view({-1}).narrow(0, 64, 32).zero_();
  for (const char* mode : {"floor", "rceil"})
    for (int64_t g : {32, 16, 64}) {
      Mxfp4Format f = make(mode, g);
      at::Tensor y = f.fake_quant(x);
      EXPECT_TRUE(same_bits(y, f.fake_quant_ref(x))) << f.describe();
      EXPECT_TRUE(same_bits(f.decode(f.encode(x)), y)) << f.describe();
    }
}

TEST(Mxfp4Format, RaggedKAndPadding) {
  at::Tensor x = test_data({2, 50}, 6);
  try {
    make().fake_quant(x);
    FAIL() << "ragged K accepted";
  } catch (const UsageError& err) {
    EXPECT_STREQ(err.what(), "mxfp4: last dimension K=50 is not a multiple of group_size 32 (set "
                             "pad: true to zero-pad the last group)");
  }
  Mxfp4Format p = make("floor", 32, true);
  at::Tensor y = p.fake_quant(x);
  EXPECT_TRUE(same_bits(y, make().fake_quant(at::constant_pad_nd(x, {0, 14}, 0)).narrow(1, 0, 50)));
  EXPECT_TRUE(same_bits(y, p.fake_quant_ref(x)));
  EncodedTensor e = p.encode(x);
  EXPECT_EQ(e.codes.sizes(), (std::vector<int64_t>{2, 32}));
  EXPECT_EQ(e.scales.sizes(), (std::vector<int64_t>{2, 2}));
  EXPECT_TRUE(same_bits(p.decode(e), y));
}

TEST(Mxfp4Format, LowPrecisionInputs) {
  at::Tensor x32 = test_data({4, 64}, 7);
  for (at::ScalarType dt : {at::kBFloat16, at::kHalf})
    for (const char* mode : {"floor", "rceil"}) {
      Mxfp4Format f = make(mode);
      at::Tensor x = x32.to(dt);
      at::Tensor y = f.fake_quant(x);
      EXPECT_EQ(y.scalar_type(), dt);
      EXPECT_TRUE(same_bits(y, f.fake_quant_ref(x.to(at::kFloat)).to(dt)));
      EXPECT_TRUE(same_bits(f.decode(f.encode(x)), y));
    }
}

TEST(Mxfp4Format, DescribeBitsAndValidation) {
  EXPECT_EQ(make().describe(), "mxfp4 g32 floor");
  EXPECT_EQ(make("rceil").describe(), "mxfp4 g32 rceil");
  EXPECT_DOUBLE_EQ(make().bits_per_element(), 4.25);
  EXPECT_THROW(make("ceil"), UsageError);
  EXPECT_THROW(make("floor", 0), UsageError);
}

TEST(Mxfp4Format, Cuda) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  at::Tensor x = test_data({6, 256}, 21);
  for (const char* mode : {"floor", "rceil"}) {
    Mxfp4Format f = make(mode);
    at::Tensor y = f.fake_quant(x.cuda());
    EXPECT_TRUE(same_bits(y.cpu(), f.fake_quant_ref(x)));
    EXPECT_TRUE(same_bits(f.decode(f.encode(x.cuda())).cpu(), y.cpu()));
  }
}

}  // namespace
}  // namespace pqlab::methods
