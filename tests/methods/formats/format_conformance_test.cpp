// Conformance of every registered number format (registries.formats.names()): shape, dtype and
// device kept; fast path == scalar reference and decode(encode(x)) == fake_quant(x) bit for bit;
// zeros stay zeros; the NaN/Inf policy; the ragged-K error; io.check rejecting a bad group size.
// Formats are created through the registry with a minimal ConfigIo that applies a few key
// overrides and leaves every other field at its default (no YAML reader needed).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "tests/common/tensor_checks.h"
#include "framework/core/paths.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framework/config/config_io.h"
#include "framework/core/error.h"
#include "framework/registry/registries.h"
#include "tests/common/plugins.h"

namespace pqlab {
namespace {

using test::values;
using test::same_bits;

/// Reader-mode ConfigIo over a flat map of overrides: keys present are parsed into the field,
/// the rest keep their defaults; failed io.check calls are counted as errors.
class OverrideIo final : public config::ConfigIo {
 public:
  explicit OverrideIo(std::map<std::string, std::string> o) : over_(std::move(o)) {}
  Mode mode() const override { return Mode::read; }
  void field(const char* key, bool& v, const char*, config::FieldOpts) override {
    if (auto s = get(key)) v = *s == "true";
  }
  void field(const char* key, int64_t& v, const char*, config::FieldOpts) override {
    if (auto s = get(key)) v = std::stoll(*s);
  }
  void field(const char* key, double& v, const char*, config::FieldOpts) override {
    if (auto s = get(key)) v = std::stod(*s);
  }
  void field(const char* key, std::string& v, const char*, config::FieldOpts) override {
    if (auto s = get(key)) v = *s;
  }
  void field(const char* key, config::GroupSize& v, const char*, config::FieldOpts) override {
    if (auto s = get(key)) {
      if (*s == "channel") v = config::GroupSize(config::GroupSize::kRow);
      else if (*s == "tensor") v = config::GroupSize(config::GroupSize::kTensor);
      else v = config::GroupSize(std::stoll(*s));
    }
  }
  void field(const char*, std::vector<std::string>&, const char*, config::FieldOpts) override {}
  void field(const char*, std::vector<int64_t>&, const char*, config::FieldOpts) override {}
  void field(const char*, std::vector<double>&, const char*, config::FieldOpts) override {}
  void plugin(const char*, const char*, config::FieldOpts, config::PluginSlot&) override {}
  void plugin_list(const char*, const char*, config::FieldOpts,
                   const std::function<std::unique_ptr<config::PluginSlot>(size_t)>&,
                   size_t&) override {}
  void nested(const char*, const char*, config::FieldOpts,
              const std::function<void(ConfigIo&)>& body) override {
    body(*this);
  }
  void elements(const char*, const char*, config::FieldOpts, size_t&,
                const std::function<void(size_t, ConfigIo&)>&) override {}
  void check(bool ok, const char* key, const std::string& message) override {
    if (!ok) {
      ++errors_;
      last_error_ = std::string(key) + ": " + message;
    }
  }
  const Registries* registries() const override { return nullptr; }
  size_t error_count() const override { return errors_; }
  const std::string& last_error() const { return last_error_; }

 private:
  const std::string* get(const char* key) const {
    auto it = over_.find(key);
    return it == over_.end() ? nullptr : &it->second;
  }
  std::map<std::string, std::string> over_;
  size_t errors_ = 0;
  std::string last_error_;
};

class FormatConformance : public ::testing::TestWithParam<std::string> {
 protected:
  FormatConformance() { register_builtin_plugins(reg_); }
  std::shared_ptr<NumberFormat> create(std::map<std::string, std::string> over = {}) {
    OverrideIo io(std::move(over));
    return reg_.formats.at(GetParam()).create(io);
  }
  static at::Tensor data(std::vector<int64_t> shape, uint64_t seed) {
    at::manual_seed(seed);
    at::Tensor x = at::randn(shape) * at::exp(at::randn(shape));
    x.view({-1})[3] = 40.0f;  // an outlier
    return x;
  }
  Registries reg_;
};

std::vector<std::string> registered_formats() {
  Registries r;
  register_builtin_plugins(r);
  return r.formats.names();
}

TEST(FormatRegistry, BuiltinFormatsAreRegistered) {
  std::vector<std::string> names = registered_formats();
  for (const char* n : {"fp8_e4m3", "int", "mxfp4", "nvfp4"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
}

TEST_P(FormatConformance, DefaultsCreateAndDescribe) {
  auto f = create();
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->describe().empty());
  EXPECT_GT(f->bits_per_element(), 0.0);
  EXPECT_LE(f->bits_per_element(), 16.0);
}

TEST_P(FormatConformance, KeepsShapeDtypeAndMatchesReference) {
  auto f = create();
  ASSERT_TRUE(f);
  at::Tensor x32 = data({2, 3, 128}, 1);
  for (at::ScalarType dt : {at::kFloat, at::kBFloat16, at::kHalf}) {
    at::Tensor x = x32.to(dt);
    at::Tensor y = f->fake_quant(x);
    EXPECT_EQ(y.sizes(), x.sizes());
    EXPECT_EQ(y.scalar_type(), dt);
    EXPECT_EQ(y.device(), x.device());
    EXPECT_TRUE(same_bits(y, f->fake_quant_ref(x.to(at::kFloat)).to(dt))) << at::toString(dt);
    EncodedTensor e = f->encode(x);
    EXPECT_EQ(e.shape, x.sizes().vec());
    EXPECT_EQ(e.dtype, dt);
    EXPECT_TRUE(same_bits(f->decode(e), y)) << at::toString(dt);
    EXPECT_FALSE(at::equal(y.to(at::kFloat), x.to(at::kFloat)));  // it does quantize
  }
}

TEST_P(FormatConformance, ZerosStayZeros) {
  auto f = create();
  at::Tensor z = at::zeros({4, 64});
  at::Tensor y = f->fake_quant(z);
  EXPECT_TRUE(same_bits(y, z));
  EXPECT_TRUE(same_bits(f->decode(f->encode(z)), z));
}

TEST_P(FormatConformance, EmptyAndOneDimensionalInputs) {
  auto f = create();
  for (at::Tensor x : {at::zeros({4, 0}), at::zeros({0, 64}), data({64}, 5), data({2, 2, 2, 64}, 6)}) {
    at::Tensor y = f->fake_quant(x);
    EXPECT_EQ(y.sizes(), x.sizes());
    EXPECT_TRUE(same_bits(y, f->fake_quant_ref(x)));
    EXPECT_TRUE(same_bits(f->decode(f->encode(x)), y));
  }
  EXPECT_THROW(f->fake_quant(at::ones({})), UsageError);
  EXPECT_THROW(f->fake_quant(at::ones({64}, at::kDouble)), UsageError);
}

TEST_P(FormatConformance, NanAndInfPolicy) {
  auto f = create();
  at::Tensor x = data({2, 64}, 2);
  at::Tensor clean = x.clone();
  x[0][5] = std::numeric_limits<float>::quiet_NaN();
  x[1][7] = std::numeric_limits<float>::infinity();
  x[1][9] = -std::numeric_limits<float>::infinity();
  clean[0][5] = 0.0f;
  clean[1][7] = 0.0f;
  clean[1][9] = 0.0f;
  at::Tensor y = f->fake_quant(x), yc = f->fake_quant(clean);
  std::vector<float> v = values(y), vc = values(yc);
  EXPECT_TRUE(std::isnan(v[5]));
  EXPECT_GE(v[64 + 7], 0.0f);
  EXPECT_LE(v[64 + 9], 0.0f);
  EXPECT_FALSE(std::isnan(v[64 + 7]) || std::isnan(v[64 + 9]));
  for (size_t i = 0; i < v.size(); ++i) {
    if (i == 5 || i == 64 + 7 || i == 64 + 9) continue;
    EXPECT_EQ(v[i], vc[i]) << "element " << i << ": scales must ignore NaN/Inf";
  }
  EXPECT_TRUE(same_bits(y, f->fake_quant_ref(x)));
  // encode: either the format has a NaN code, or it throws RuntimeError naming [0, 5].
  try {
    EXPECT_TRUE(same_bits(f->decode(f->encode(x)), y));
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("NaN at index [0, 5]"), std::string::npos) << e.what();
  }
}

TEST_P(FormatConformance, RaggedKIsAnErrorUnlessPadded) {
  auto f = create({{"group_size", "16"}});
  ASSERT_TRUE(f);
  at::Tensor x = data({3, 40}, 3);
  try {
    f->fake_quant(x);
    FAIL() << "ragged K accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("last dimension K=40 is not a multiple of group_size 16"),
              std::string::npos)
        << e.what();
  }
  auto p = create({{"group_size", "16"}, {"pad", "true"}});
  at::Tensor y = p->fake_quant(x);
  EXPECT_EQ(y.sizes(), x.sizes());
  EXPECT_TRUE(same_bits(y, p->fake_quant_ref(x)));
  EXPECT_TRUE(same_bits(p->decode(p->encode(x)), y));
}

TEST_P(FormatConformance, BadGroupSizeIsRejectedByCheck) {
  OverrideIo io(std::map<std::string, std::string>{{"group_size", "-5"}});
  EXPECT_EQ(reg_.formats.at(GetParam()).create(io), nullptr);
  EXPECT_EQ(io.error_count(), 1u);
  EXPECT_EQ(io.last_error().rfind("group_size: ", 0), 0u) << io.last_error();
}

TEST_P(FormatConformance, Cuda) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  auto f = create();
  at::Tensor x = data({4, 256}, 4);
  at::Tensor y = f->fake_quant(x.cuda());
  EXPECT_TRUE(y.is_cuda());
  EXPECT_TRUE(same_bits(y.cpu(), f->fake_quant_ref(x)));
  EXPECT_TRUE(same_bits(f->decode(f->encode(x.cuda())).cpu(), y.cpu()));
}

// configs/formats/*.yaml through the real YAML reader: every fragment builds its format.
TEST(FormatFragments, EveryConfigFragmentBuildsItsFormat) {
  const std::map<std::string, std::string> expected = {
      {"int4_g64.yaml", "int4 g64 sym"},          {"int4_g64_fp16scale.yaml", "int4 g64 sym fp16-scale"},
      {"int8_channel.yaml", "int8 channel sym"},  {"int8_tensor.yaml", "int8 tensor sym"},
      {"nvfp4.yaml", "nvfp4 g16"},                {"nvfp4_act.yaml", "nvfp4 g16 no-global"},
      {"mxfp4.yaml", "mxfp4 g32 floor"},          {"mxfp4_rceil.yaml", "mxfp4 g32 rceil"},
      {"fp8_e4m3.yaml", "fp8_e4m3 tensor"},       {"fp8_e4m3_channel.yaml", "fp8_e4m3 channel"},
  };
  size_t seen = 0;
  const std::string dir = path_join(PQLAB_SOURCE_DIR, "configs/formats");
  for (const auto& name : list_directory(dir)) {
    if (name.size() < 5 || name.substr(name.size() - 5) != ".yaml") continue;
    std::ifstream in(path_join(dir, name));
    std::stringstream text;
    text << in.rdbuf();
    std::shared_ptr<NumberFormat> f;
    ASSERT_NO_THROW(f = test::make_plugin<NumberFormat>(test::builtin(), text.str())) << name;
    ASSERT_TRUE(f) << name;
    auto it = expected.find(name);
    if (it != expected.end()) {
      EXPECT_EQ(f->describe(), it->second);
      ++seen;
    }
  }
  EXPECT_EQ(seen, expected.size());
}

TEST(FormatFragments, ReaderRejectsOutOfRangeValues) {
  for (const char* bad : {"{name: int, bits: 9}", "{name: int, scale_dtype: fp8}",
                          "{name: int, group_size: -3}", "{name: nvfp4, group_size: 15}",
                          "{name: nvfp4, global_scale: block}", "{name: mxfp4, scale_mode: ceil}",
                          "{name: fp8_e4m3, group_size: 0, pad: maybe}"})
    EXPECT_THROW(test::make_plugin<NumberFormat>(test::builtin(), bad), ConfigError) << bad;
  EXPECT_NO_THROW(test::make_plugin<NumberFormat>(test::builtin(), "{name: int, group_size: channel}"));
}

INSTANTIATE_TEST_SUITE_P(AllFormats, FormatConformance, ::testing::ValuesIn(registered_formats()),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace pqlab
