// LinearSite's weight storage: a packed quantized weight (codes + scales) computes exactly what the
// fake-quantized copy computes, for every format; weight() decodes it; set_weight() and a state
// switch undo it; the packed form is smaller; a format that cannot take K names the layer.
#include "framework/quant/linear_site.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "framework/core/error.h"
#include "framework/interfaces/number_format.h"
#include "tests/common/plugins.h"

namespace pqlab {
namespace {

std::shared_ptr<const NumberFormat> format(const std::string& yaml) {
  return test::make_plugin<NumberFormat>(test::builtin(), yaml);
}

int64_t bytes_of(const EncodedTensor& e) {
  int64_t n = 0;
  for (const at::Tensor* t : {&e.codes, &e.scales, &e.zero_points, &e.global_scale})
    if (t->defined()) n += t->numel() * static_cast<int64_t>(t->element_size());
  return n;
}

TEST(linear_site, packed_weights_compute_what_fake_quantized_ones_do) {
  at::manual_seed(0);
  const at::Tensor w = at::randn({48, 64}).to(at::kBFloat16), b = at::randn({48}).to(at::kBFloat16);
  const at::Tensor x = at::randn({5, 64}).to(at::kBFloat16);
  for (const char* f : {"{name: int, bits: 4, group_size: 16}", "nvfp4", "mxfp4", "fp8_e4m3", "{name: int, bits: 8}"}) {
    const auto fmt = format(f);
    LinearSite dense("l", "mlp", w.clone(), b.clone()), packed("l", "mlp", w.clone(), b.clone());
    packed.set_pack_quantized(true);
    dense.quantize_weight(fmt);
    packed.quantize_weight(fmt);
    EXPECT_FALSE(dense.weight_packed()) << f;
    ASSERT_TRUE(packed.weight_packed()) << f;
    EXPECT_FALSE(packed.state().weight.defined()) << f;
    EXPECT_TRUE(at::equal(packed.weight(), fmt->fake_quant(w))) << f;
    EXPECT_EQ(packed.weight().scalar_type(), at::kBFloat16) << f;
    EXPECT_TRUE(at::equal(packed.forward(x), dense.forward(x))) << f;
    EXPECT_TRUE(at::equal(site_weight(packed.state()), dense.weight())) << f;
    // At most 10 bits per weight (INT codes are bytes; INT4 g16 adds a float32 scale per 16) vs 16.
    EXPECT_LE(bytes_of(*packed.state().packed_weight), w.numel() * 10 / 8) << f;
  }
}

TEST(linear_site, set_weight_and_state_switches_undo_packing) {
  const at::Tensor w = at::randn({8, 32});
  LinearSite s("l", "mlp", w.clone(), at::Tensor());
  const SiteState fp = s.state();
  s.set_pack_quantized(true);
  s.quantize_weight(format("nvfp4"));
  ASSERT_TRUE(s.weight_packed());
  s.set_state(fp);
  EXPECT_FALSE(s.weight_packed());
  EXPECT_TRUE(at::equal(s.weight(), w));
  s.quantize_weight(format("nvfp4"));
  s.set_weight(w * 2);
  EXPECT_FALSE(s.weight_packed());
  EXPECT_TRUE(at::equal(s.weight(), w * 2));
  EXPECT_EQ(s.in_features(), 32);
  EXPECT_EQ(s.out_features(), 8);
}

TEST(linear_site, a_format_that_cannot_take_k_names_the_layer) {
  LinearSite s("double.3.img.attn.qkv", "attn_qkv", at::randn({8, 24}), at::Tensor());
  s.set_pack_quantized(true);
  try {
    s.quantize_weight(format("{name: int, bits: 4, group_size: 16}"));
    FAIL() << "expected an error";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("layer 'double.3.img.attn.qkv' (K=24): ", 0), 0u) << e.what();
  }
  EXPECT_FALSE(s.weight_packed());
}

}  // namespace
}  // namespace pqlab
