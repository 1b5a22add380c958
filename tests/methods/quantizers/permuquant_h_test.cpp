// permuquant_h (methods/quantizers/permuquant_h.cpp): both variants on the built-in FLUX with a
// real calibration. Its control (identity ordering) is the rotation alone: for
// rotate_then_permute exactly convrot with the same block. Proposals stay inside rotation blocks,
// and a permutation is kept iff it lowers the calibration error measured with the rotation in place.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>

#include "framework/core/error.h"
#include "framework/interfaces/method.h"
#include "framework/quant/linear_site.h"
#include "tests/common/builtin_model.h"
#include "tests/common/error_text.h"

namespace pqlab {
namespace {

const std::string kInt4 =
    "weight_format: {name: int, bits: 4, group_size: 16}, act_format: {name: int, bits: 4, group_size: 16}, "
    "only: [\"double.*.attn.*\", \"double.*.mlp.*\", \"single.*.linear1\", \"single.*.linear2\"]";

class PermuquantHTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto m = test::builtin_flux();
    cal_ = new Calibration(test::calibrate_all(*m, 2, 64));
  }
  static void TearDownTestSuite() { delete cal_; }
  static Calibration* cal_;
};
Calibration* PermuquantHTest::cal_ = nullptr;

TEST_F(PermuquantHTest, config_and_needs) {
  auto m = test::make_plugin<Method>(test::builtin(), "{name: permuquant_h, " + kInt4 + "}");
  EXPECT_TRUE(m->needs().statistics);
  EXPECT_EQ(m->needs().keep_rows, 256);
  EXPECT_NE(m->describe().find("rotate_then_permute + joint_second_moment"), std::string::npos) << m->describe();
  auto id = test::make_plugin<Method>(test::builtin(), "{name: permuquant_h, ordering: identity, " + kInt4 + "}");
  EXPECT_FALSE(id->needs().statistics);
  EXPECT_NE(test::message_of([] {
              test::make_plugin<Method>(test::builtin(), "{name: permuquant_h, block: 32, weight_format: int}");
            }).find("the rotation block must be a power of 4"),
            std::string::npos);
  EXPECT_THROW(test::make_plugin<Method>(test::builtin(), "{name: permuquant_h, variant: both, " + kInt4 + "}"),
               ConfigError);
}

TEST_F(PermuquantHTest, the_control_of_rotate_then_permute_is_convrot) {
  auto a = test::builtin_flux(), b = test::builtin_flux();
  test::make_plugin<Method>(test::builtin(), "{name: permuquant_h, ordering: identity, block: 64, " + kInt4 + "}")
      ->apply(*a, cal_);
  test::make_plugin<Method>(test::builtin(), "{name: convrot, block: 64, " + kInt4 + "}")->apply(*b, cal_);
  const auto sa = a->linear_sites(), sb = b->linear_sites();
  for (size_t i = 0; i < sa.size(); ++i) EXPECT_TRUE(at::equal(sa[i]->weight(), sb[i]->weight())) << sa[i]->key();
  const at::Tensor x = a->sample_inputs(1, 2);
  EXPECT_TRUE(at::equal(run_trajectory(*a, x, 0), run_trajectory(*b, x, 0)));
}

TEST_F(PermuquantHTest, rotate_then_permute_keeps_what_lowers_the_rotated_error_within_blocks) {
  auto m = test::builtin_flux();
  const MethodReport r =
      test::make_plugin<Method>(test::builtin(), "{name: permuquant_h, block: 64, " + kInt4 + "}")->apply(*m, cal_);
  ASSERT_EQ(r.permutations.size(), 20u);
  int accepted = 0;
  for (const PermutationDecision& d : r.permutations) {
    EXPECT_EQ(d.accepted, d.error_perm < d.error_orig) << d.consumers[0];
    accepted += d.accepted;
    for (int64_t j = 0; j < d.permutation.size(0); ++j)
      ASSERT_EQ(d.permutation[j].item<int64_t>() / 64, j / 64) << d.consumers[0];
  }
  EXPECT_GT(accepted, 0);
}

TEST_F(PermuquantHTest, permute_then_rotate_rotates_each_quantization_group) {
  auto m = test::builtin_flux();
  const MethodReport r =
      test::make_plugin<Method>(test::builtin(), "{name: permuquant_h, variant: permute_then_rotate, " + kInt4 + "}")
          ->apply(*m, cal_);
  ASSERT_EQ(r.permutations.size(), 18u);  // the adapter's permutation sites, as permuquant
  for (const PermutationDecision& d : r.permutations) EXPECT_EQ(d.accepted, d.error_perm < d.error_orig) << d.kind;
  for (const SiteRecord& s : r.sites) EXPECT_EQ(s.texts.at(0).second, "regular block 16") << s.key;
  auto g32 = test::builtin_flux();
  const MethodReport r32 = test::make_plugin<Method>(test::builtin(),
                                                     "{name: permuquant_h, variant: permute_then_rotate, ordering: identity, "
                                                     "weight_format: {name: int, bits: 4, group_size: 32}, "
                                                     "only: [\"double.*.mlp.*\"]}")
                               ->apply(*g32, cal_);
  for (const SiteRecord& s : r32.sites) EXPECT_EQ(s.texts.at(0).second, "sylvester block 32") << s.key;
  // Per-channel weights: the group is the whole row (K = 128, 512, 640); 640 is rotated in blocks
  // of 128, the largest power of two that divides it.
  auto row = test::builtin_flux();
  const MethodReport rr = test::make_plugin<Method>(test::builtin(),
                                                    "{name: permuquant_h, variant: permute_then_rotate, "
                                                    "weight_format: {name: int, bits: 8, group_size: channel}, "
                                                    "only: [\"single.0.*\", \"double.0.img.mlp.*\"]}")
                              ->apply(*row, cal_);
  std::map<std::string, std::string> rot;
  for (const SiteRecord& s : rr.sites) rot[s.key] = s.texts.at(0).second;
  EXPECT_EQ(rot.at("single.0.linear2"), "sylvester block 128");
  EXPECT_EQ(rot.at("double.0.img.mlp.down"), "sylvester block 512");
  EXPECT_EQ(rot.at("double.0.img.mlp.up"), "sylvester block 128");
}

}  // namespace
}  // namespace pqlab
