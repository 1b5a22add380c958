#include <gtest/gtest.h>

#include "framework/config/config_writer.h"
#include "framework/registry/registries.h"

namespace pqlab {
namespace {

struct FakeConfig {
  int64_t k = 3;
  template <class IO> static void map(IO& io, FakeConfig& c) { io.field("k", c.k, "a knob", config::in_range(0, 9)); }
};
class FakeMetric final : public ConfiguredPlugin<Metric, FakeConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override { return "fake"; }
  bool higher_is_better() const override { return true; }
  double compute(const at::Tensor&, const at::Tensor&) const override { return static_cast<double>(cfg_.k); }
};

TEST(registry, builtin_kinds_hold_the_expected_plugins_sorted) {
  Registries r;
  register_builtin_plugins(r);
  EXPECT_EQ(r.formats.names(), (std::vector<std::string>{"fp8_e4m3", "int", "mxfp4", "nvfp4"}));
  EXPECT_EQ(r.methods.names(), (std::vector<std::string>{"convrot", "permuquant", "permuquant_h", "quarot", "rtn", "smoothquant", "svdquant"}));
  EXPECT_EQ(r.orderings.names(), (std::vector<std::string>{"act_absmax", "act_second_moment", "identity",
                                                            "joint_second_moment", "random", "weight_second_moment"}));
  EXPECT_EQ(r.commands.names(), (std::vector<std::string>{"forward", "train_classifier", "train_flux"}));
  EXPECT_EQ(r.classifiers.names(), (std::vector<std::string>{"fmnist_cnn"}));
  EXPECT_EQ(r.models.names(), (std::vector<std::string>{"flux", "toy_mlp"}));
  EXPECT_EQ(r.metrics.names(), (std::vector<std::string>{"frechet_distance", "psnr", "rel_mse", "sqnr", "ssim"}));
  // Plugin name = file stem, for every kind: the registration site is the plugin's own file.
  const auto stem_is_name = [](const auto& registry) {
    for (const auto* e : registry.entries())
      EXPECT_EQ(e->file.substr(e->file.rfind('/') + 1), e->name + ".cpp") << registry.kind() << " " << e->name;
  };
#define PQLAB_KIND(kind, Interface, member, name_key) stem_is_name(r.member);
#include "framework/registry/kinds.def"
#undef PQLAB_KIND
}

TEST(registry, duplicate_registration_cites_both_sites) {
  Registries r;
  r.metrics.add<FakeMetric>("fake", "help", "a.cpp", 10);
  try {
    r.metrics.add<FakeMetric>("fake", "help", "b.cpp", 20);
    FAIL();
  } catch (const RuntimeError& e) {
    EXPECT_STREQ(e.what(), "b.cpp:20: metric 'fake' registered twice (first at a.cpp:10)");
  }
}

TEST(registry, unknown_name_suggests_and_lists) {
  Registries r;
  register_builtin_plugins(r);
  try {
    r.formats.at("mxfp5");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(),
                 "unknown format 'mxfp5'; did you mean 'mxfp4'? (registered formats: fp8_e4m3, int, mxfp4, nvfp4)");
  }
}

TEST(registry, explain_and_private_registries_work_with_a_fake) {
  Registries r;  // a test registry holding only a fake plugin
  r.metrics.add<FakeMetric>("fake", "a fake", __FILE__, __LINE__);
  std::vector<config::KeyDoc> docs;
  config::ConfigExplainer ex(docs);
  r.metrics.at("fake").explain(ex);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].key, "k");
  EXPECT_EQ(docs[0].type, "int in [0, 9]");
  EXPECT_EQ(docs[0].default_value, "3");
}

}  // namespace
}  // namespace pqlab
