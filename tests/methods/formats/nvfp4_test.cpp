// Format `nvfp4` (methods/formats/nvfp4.cpp): the methods.md 9.4 worked example in
// TransformerEngine's fp32 order, E2M1 ties after scaling, zero and subnormal block scales, a
// 1e-30..1e30 dynamic range, the no-global-scale (nunchaku) variant, NaN/Inf policy, packed
// nibble order, encode/decode, padding, and fast path == scalar reference == hand-computed codes.
#include "tests/common/tensor_checks.h"
#include "methods/formats/nvfp4.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cfloat>
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

Nvfp4Format make(const std::string& global = "tensor", int64_t g = 16, bool pad = false) {
  Nvfp4Config c;
  c.global_scale = global;
  c.group_size = config::GroupSize(g);
  c.pad = pad;
  return Nvfp4Format(c);
}

at::Tensor from(const std::vector<float>& v, int64_t rows) {
  at::Tensor t = at::empty({static_cast<int64_t>(v.size())}, at::kFloat);
  std::memcpy(t.data_ptr<float>(), v.data(), v.size() * 4);
  return t.reshape({rows, -1});
}

/// Unpacked 4-bit codes [rows, Kp] of an encoding.
std::vector<int> codes_of(const EncodedTensor& e) {
  return bytes(codecs::unpack_nibbles(e.codes));
}

/// Pads a block to 16 elements with zeros.
std::vector<float> block(std::vector<float> v) {
  v.resize(16, 0.0f);
  return v;
}
std::vector<float> concat(std::initializer_list<std::vector<float>> parts) {
  std::vector<float> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

at::Tensor test_data(std::vector<int64_t> shape, uint64_t seed) {
  at::manual_seed(seed);
  return at::randn(shape) * at::exp(at::randn(shape) * 2);
}

TEST(Nvfp4Format, WorkedExampleTensorScale) {
  // methods.md 9.4: tensor amax 10, a block with amax 2.5 holding -0.7 and 2.5.
  Nvfp4Format f = make();
  at::Tensor x = from(concat({block({10.0f}), block({2.5f, -0.7f})}), 1);
  EncodedTensor e = f.encode(x);
  const float s_enc = 2688.0f / 10.0f;
  EXPECT_EQ(s_enc, 268.799988f);
  const float s_dec = 1.0f / s_enc;
  EXPECT_EQ(e.global_scale.item<float>(), s_dec);
  EXPECT_EQ(e.global_scale.dim(), 0);
  // 2.5 * (S_enc * (1/6.f)) = 112.0 exactly -> E4M3 0x6E; 10 -> 448 -> 0x7E.
  EXPECT_EQ(bytes(e.scales), (std::vector<int>{0x7E, 0x6E}));
  std::vector<int> q = codes_of(e);
  EXPECT_EQ(q[0], 7);    // 10 * 0.6 -> 6
  EXPECT_EQ(q[16], 7);   // 2.5 * 2.4 = 5.9999995 -> 6
  EXPECT_EQ(q[17], 0xB);  // -0.7 * 2.4 = -1.68 -> -1.5
  EXPECT_EQ(bytes(e.codes)[8], 0xB7);  // element 16 low nibble, 17 high nibble
  std::vector<float> y = values(f.fake_quant(x));
  EXPECT_EQ(y[16], 6.0f * 112.0f * s_dec);   // = 2.50000024f in fp32
  EXPECT_EQ(y[17], -1.5f * 112.0f * s_dec);  // = -0.62500006f in fp32
  EXPECT_NEAR(y[16], 2.5f, 1e-6f);
  EXPECT_NEAR(y[17], -0.625f, 1e-6f);
  EXPECT_EQ(y[0], 6.0f * 448.0f * s_dec);
  EXPECT_TRUE(same_bits(f.fake_quant(x), f.fake_quant_ref(x)));
  EXPECT_TRUE(same_bits(f.decode(e), f.fake_quant(x)));
}

// Tensor amax 2688 makes S_enc = S_dec = 1, so the E2M1 inputs are exactly the chosen values.
TEST(Nvfp4Format, AdversarialTiesZerosAndSubnormalScales) {
  Nvfp4Format f = make();
  const std::vector<float> row0 = concat({
      block({2688.0f}),                                                       // sb 448
      block({6, 0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5, -0.25f, -0.75f,   // sb 1: ties
             -1.25f, -1.75f, -2.5f, -3.5f, -5, 0}),
      block({12, 0.5f, 1.5f, 2.5f, 3.5f, 5, 7, 10}),                          // sb 2: ties x2
      block({}),                                                              // zero block
  });
  const std::vector<float> row1 = concat({
      block({0.01f, 0.001f}),  // 0.01/6 -> E4M3 subnormal 2^-9 (0x01): inv = 512
      block({0.001f}),         // 0.001/6 -> below 2^-10: scale 0, block dequantizes to 0
      block({0.05f}),          // 0.05/6 -> 4 * 2^-9 = 2^-7 (0x04)
      block({6.375f, 5.0f}),   // 6.375 * (1/6.f) = 1.0625 exactly: E4M3 tie -> 1.0 (0x38)
  });
  at::Tensor x = from(concat({row0, row1}), 2);
  EncodedTensor e = f.encode(x);
  EXPECT_EQ(e.global_scale.item<float>(), 1.0f);
  EXPECT_EQ(bytes(e.scales), (std::vector<int>{0x7E, 0x38, 0x40, 0x00, 0x01, 0x00, 0x04, 0x38}));
  std::vector<int> q = codes_of(e);
  const std::vector<int> tie_codes = {7, 0, 2, 2, 4, 4, 6, 6, 8, 10, 10, 12, 12, 14, 14, 0};
  EXPECT_EQ(std::vector<int>(q.begin() + 16, q.begin() + 32), tie_codes);
  EXPECT_EQ(std::vector<int>(q.begin() + 32, q.begin() + 40),
            (std::vector<int>{7, 0, 2, 2, 4, 4, 6, 6}));
  EXPECT_EQ(bytes(e.codes)[8], 0x07);   // (6, 0.25): element 2i low nibble
  EXPECT_EQ(bytes(e.codes)[12], 0xA8);  // (-0.25, -0.75) -> (8, 10)
  EXPECT_EQ(q[64], 7);   // 0.01 * 512 = 5.12 -> 6
  EXPECT_EQ(q[65], 1);   // 0.001 * 512 = 0.512 -> 0.5
  EXPECT_EQ(q[80], 7);   // zero scale: inv = FLT_MAX, saturates (but dequantizes to 0)
  EXPECT_EQ(q[112], 7);  // 6.375 -> 6
  EXPECT_EQ(q[113], 6);  // 5 -> 4 (tie to even)

  std::vector<float> y = values(f.fake_quant(x));
  EXPECT_EQ(y[17], 0.0f);
  EXPECT_EQ(y[18], 1.0f);
  EXPECT_EQ(y[22], 4.0f);
  EXPECT_EQ(y[23], 4.0f);
  EXPECT_EQ(y[38], 8.0f);  // 7 * 0.5 = 3.5 -> 4 (tie to even), times sb = 2
  for (int i = 48; i < 64; ++i) EXPECT_EQ(y[i], 0.0f);
  EXPECT_EQ(y[64], 6.0f * std::ldexp(1.0f, -9));
  EXPECT_EQ(y[65], 0.5f * std::ldexp(1.0f, -9));
  for (int i = 80; i < 96; ++i) EXPECT_EQ(y[i], 0.0f);
  EXPECT_EQ(y[96], 6.0f * std::ldexp(1.0f, -7));
  EXPECT_EQ(y[112], 6.0f);
  EXPECT_EQ(y[113], 4.0f);
  EXPECT_TRUE(same_bits(f.fake_quant(x), f.fake_quant_ref(x)));
  EXPECT_TRUE(same_bits(f.decode(e), f.fake_quant(x)));
}

TEST(Nvfp4Format, HugeDynamicRange) {
  Nvfp4Format f = make();
  at::Tensor x = from(concat({block({1e30f, -3e29f}), block({1e-30f, -1e-30f}), block({1e20f}),
                              block({1e28f})}),
                      1);
  EncodedTensor e = f.encode(x);
  // S_enc = 2688/1e30; 1e30 * (S_enc/6) = 448; 1e28 -> 4.48 -> 4.5 (0x49); others underflow.
  EXPECT_EQ(bytes(e.scales), (std::vector<int>{0x7E, 0x00, 0x00, 0x49}));
  std::vector<int> q = codes_of(e);
  EXPECT_EQ(q[0], 7);
  EXPECT_EQ(q[48], 7);  // 1e28 / (4.5 * S_dec) = 5.97 -> 6
  std::vector<float> y = values(f.fake_quant(x));
  EXPECT_FLOAT_EQ(y[0], 1e30f);
  EXPECT_EQ(y[16], 0.0f);
  EXPECT_EQ(y[32], 0.0f);
  EXPECT_FLOAT_EQ(y[48], 6.0f * 4.5f * (1.0f / (2688.0f / 1e30f)));
  for (float v : y) EXPECT_TRUE(std::isfinite(v));
  EXPECT_TRUE(same_bits(f.fake_quant(x), f.fake_quant_ref(x)));
  EXPECT_TRUE(same_bits(f.decode(e), f.fake_quant(x)));

  Nvfp4Format n = make("none");
  EncodedTensor en = n.encode(x);
  EXPECT_FALSE(en.global_scale.defined());
  EXPECT_EQ(bytes(en.scales)[0], 0x7E);  // min(1e30/6, 448) = 448
  std::vector<float> yn = values(n.fake_quant(x));
  EXPECT_EQ(yn[0], 6.0f * 448.0f);  // saturated: no global scale to absorb the range
  EXPECT_EQ(yn[16], 0.0f);
  EXPECT_TRUE(same_bits(n.fake_quant(x), n.fake_quant_ref(x)));
  EXPECT_TRUE(same_bits(n.decode(en), n.fake_quant(x)));
}

TEST(Nvfp4Format, NoGlobalScaleVariant) {
  Nvfp4Format f = make("none");
  const std::vector<float> v = concat({
      block({6, 0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5}),  // scale 6*(1/6.f) = 1 exactly
      block({3000.0f, 1.0f}),                                  // scale clamps to 448
      block({}),                                               // zero block: no NaN
      block({6.375f, 5.0f}),  // scale 1.0625 (unrounded) for elements, E4M3 1.0 for dequant
  });
  at::Tensor x = from(v, 1);
  EncodedTensor e = f.encode(x);
  EXPECT_EQ(bytes(e.scales), (std::vector<int>{0x38, 0x7E, 0x00, 0x38}));
  std::vector<int> q = codes_of(e);
  EXPECT_EQ(std::vector<int>(q.begin(), q.begin() + 8), (std::vector<int>{7, 0, 2, 2, 4, 4, 6, 6}));
  EXPECT_EQ(q[16], 7);  // 3000/448 = 6.7 -> 6
  EXPECT_EQ(q[48], 7);  // 6.375/1.0625 = 6
  EXPECT_EQ(q[49], 6);  // 5/1.0625 = 4.71 -> 4
  std::vector<float> y = values(f.fake_quant(x));
  EXPECT_EQ(y[16], 2688.0f);
  for (int i = 32; i < 48; ++i) EXPECT_EQ(y[i], 0.0f);
  EXPECT_EQ(y[48], 6.0f);  // 6 * E4M3(1.0625) = 6 * 1.0
  EXPECT_EQ(y[49], 4.0f);
  EXPECT_TRUE(same_bits(f.fake_quant(x), f.fake_quant_ref(x)));
  EXPECT_TRUE(same_bits(f.decode(e), f.fake_quant(x)));
}

TEST(Nvfp4Format, NanAndInfPolicy) {
  for (const char* mode : {"tensor", "none"}) {
    Nvfp4Format f = make(mode);
    at::Tensor x = from(concat({block({kInf, 1.0f, -kInf, 2.0f, kNaN}), block({3.0f})}), 1);
    std::vector<float> y = values(f.fake_quant(x));
    EXPECT_TRUE(std::isnan(y[4]));
    EXPECT_EQ(y[0], y[3]);  // +inf -> largest code (6) times the block scale, like the amax 2
    EXPECT_EQ(y[2], -y[3]);
    at::Tensor clean = x.clone();
    clean[0][0] = 0.0f;
    clean[0][2] = 0.0f;
    clean[0][4] = 0.0f;
    std::vector<float> yc = values(f.fake_quant(clean));
    for (int i : {1, 3, 16}) EXPECT_EQ(y[i], yc[i]) << mode;  // scales ignore NaN and Inf
    EXPECT_TRUE(same_bits(f.fake_quant(x), f.fake_quant_ref(x)));
    try {
      f.encode(x);
      FAIL() << "encode accepted NaN";
    } catch (const RuntimeError& err) {
      EXPECT_STREQ(err.what(),
                   "nvfp4: cannot encode NaN at index [0, 4] (the format has no NaN code)");
    }
    at::Tensor inf_only = x.clone();
    inf_only[0][4] = 0.0f;
    std::vector<int> q = codes_of(f.encode(inf_only));
    EXPECT_EQ(q[0], 7);
    EXPECT_EQ(q[2], 15);
  }
}

TEST(Nvfp4Format, WithinHalfAStepWhereNotSaturated) {
  Nvfp4Format f = make();
  at::Tensor x = test_data({8, 256}, 4);
  EncodedTensor e = f.encode(x);
  at::Tensor sb = codecs::e4m3_decode(e.scales).unsqueeze(-1).expand({8, 16, 16}).reshape({8, 256});
  at::Tensor scale = sb * e.global_scale;
  at::Tensor inv = at::minimum(1.0f / scale, at::full({}, FLT_MAX));
  at::Tensor y = (x * inv).abs();
  at::Tensor half = at::where(y < 2, at::full_like(y, 0.25f),
                              at::where(y < 4, at::full_like(y, 0.5f), at::full_like(y, 1.0f)));
  at::Tensor ok = (y <= 6) & (sb > 0);
  at::Tensor err = (f.fake_quant(x) - x).abs();
  at::Tensor bound = half * scale * (1 + 1e-5f);
  EXPECT_TRUE((err <= bound).masked_select(ok).all().item<bool>());
  EXPECT_GT(ok.sum().item<int64_t>(), 1500);
}

TEST(Nvfp4Format, FastEqualsReference) {
  at::Tensor x = test_data({3, 4, 128}, 9);
  x.view({-1}).narrow(0, 32, 16).zero_();  // a zero block
  x.view({-1})[200] = 1e-20f;
  for (const char* mode : {"tensor", "none"})
    for (int64_t g : {16, 32, 8}) {
      Nvfp4Format f = make(mode, g);
      at::Tensor y = f.fake_quant(x);
      EXPECT_TRUE(same_bits(y, f.fake_quant_ref(x))) << f.describe();
      EXPECT_TRUE(same_bits(f.decode(f.encode(x)), y)) << f.describe();
    }
}

TEST(Nvfp4Format, RaggedKAndPadding) {
  at::Tensor x = test_data({2, 40}, 12);
  try {
    make().fake_quant(x);
    FAIL() << "ragged K accepted";
  } catch (const UsageError& err) {
    EXPECT_STREQ(err.what(), "nvfp4: last dimension K=40 is not a multiple of group_size 16 (set "
                             "pad: true to zero-pad the last group)");
  }
  Nvfp4Format p = make("tensor", 16, true);
  at::Tensor y = p.fake_quant(x);
  ASSERT_EQ(y.sizes(), x.sizes());
  EXPECT_TRUE(same_bits(y, make().fake_quant(at::constant_pad_nd(x, {0, 8}, 0)).narrow(1, 0, 40)));
  EXPECT_TRUE(same_bits(y, p.fake_quant_ref(x)));
  EncodedTensor e = p.encode(x);
  EXPECT_EQ(e.codes.sizes(), (std::vector<int64_t>{2, 24}));
  EXPECT_EQ(e.scales.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(e.padded_k, 48);
  EXPECT_TRUE(same_bits(p.decode(e), y));
}

TEST(Nvfp4Format, LowPrecisionInputs) {
  at::Tensor x32 = test_data({4, 64}, 13);
  for (at::ScalarType dt : {at::kBFloat16, at::kHalf})
    for (const char* mode : {"tensor", "none"}) {
      Nvfp4Format f = make(mode);
      at::Tensor x = x32.to(dt);
      at::Tensor y = f.fake_quant(x);
      EXPECT_EQ(y.scalar_type(), dt);
      EXPECT_TRUE(same_bits(y, f.fake_quant_ref(x.to(at::kFloat)).to(dt)));
      EncodedTensor e = f.encode(x);
      EXPECT_TRUE(same_bits(f.decode(e), y));
      EXPECT_EQ(f.decode(e).scalar_type(), dt);
    }
}

TEST(Nvfp4Format, DescribeBitsAndValidation) {
  EXPECT_EQ(make().describe(), "nvfp4 g16");
  EXPECT_EQ(make("none").describe(), "nvfp4 g16 no-global");
  EXPECT_DOUBLE_EQ(make().bits_per_element(), 4.5);
  EXPECT_THROW(make("tensor", 15), UsageError);
  EXPECT_THROW(make("global"), UsageError);
}

TEST(Nvfp4Format, Cuda) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  at::Tensor x = test_data({6, 256}, 21);
  for (const char* mode : {"tensor", "none"}) {
    Nvfp4Format f = make(mode);
    at::Tensor y = f.fake_quant(x.cuda());
    EXPECT_TRUE(same_bits(y.cpu(), f.fake_quant_ref(x)));
    EXPECT_TRUE(same_bits(f.decode(f.encode(x.cuda())).cpu(), y.cpu()));
  }
}

}  // namespace
}  // namespace pqlab::methods
