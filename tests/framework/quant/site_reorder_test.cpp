// Orderings after an online transform (framework/quant/site_reorder.h) on the built-in FLUX with
// a real calibration: the statistics are those of the transformed input, proposals stay inside
// their segments, an absorbed permutation leaves full-precision outputs at round-off, and the
// acceptance rule keeps a permutation only where the error on transformed rows drops.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <memory>

#include "framework/interfaces/number_format.h"
#include "framework/interfaces/ordering.h"
#include "framework/quant/input_transform.h"
#include "framework/quant/linear_site.h"
#include "framework/quant/reorder.h"
#include "framework/quant/rotation.h"
#include "framework/quant/site_reorder.h"
#include "tests/common/builtin_model.h"
#include "tests/common/error_text.h"

namespace pqlab {
namespace {

class SiteReorder : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto m = test::builtin_flux();
    cal_ = new Calibration(test::calibrate_all(*m, 2, 64));
  }
  static void TearDownTestSuite() { delete cal_; }
  static LinearSite& site(ModelAdapter& m, const std::string& key) {
    for (LinearSite* s : m.linear_sites())
      if (s->key() == key) return *s;
    throw std::runtime_error("no site " + key);
  }
  static void rotate(LinearSite& s, int64_t block) {
    auto rot = std::make_shared<BlockRotation>(s.in_features(), block, BlockHadamard::regular, at::kCPU);
    s.set_weight(rot->fold_weight(s.weight()));
    s.set_input_transform(rot);
  }
  static Calibration* cal_;
};
Calibration* SiteReorder::cal_ = nullptr;

TEST_F(SiteReorder, statistics_are_those_of_the_transformed_input) {
  auto m = test::builtin_flux();
  LinearSite& s = site(*m, "double.0.img.mlp.down");
  const InputStats in = cal_->pooled(s.key());
  // Per-channel divisor: exact from the sums.
  const at::Tensor d = at::rand({s.in_features()}) + 0.5;
  auto scale = std::make_shared<ChannelScale>(d);
  s.set_weight(scale->fold_weight(s.weight()));
  s.set_input_transform(scale);
  ChannelStats cs = transformed_channel_stats(s, *cal_, -1, 0, 0, true);
  const at::Tensor d64 = scale->scales().to(at::kDouble);
  EXPECT_TRUE(at::allclose(cs.act_second_moment, in.sumsq / in.count / d64.pow(2), 1e-12, 0));
  EXPECT_TRUE(at::allclose(cs.act_absmax, in.absmax / d64, 1e-12, 0));
  EXPECT_TRUE(at::allclose(cs.weight_second_moment, s.weight().to(at::kDouble).pow(2).mean(0), 1e-12, 0));
  EXPECT_TRUE(cs.segments.empty());
  // A rotation: measured on the rotated reservoir rows.
  auto m2 = test::builtin_flux();
  LinearSite& r = site(*m2, "double.0.img.mlp.down");
  rotate(r, 256);
  cs = transformed_channel_stats(r, *cal_, -1, 256, 0, true);
  const at::Tensor tr = r.input_transform()->apply(in.rows.to(at::kFloat)).to(at::kDouble);
  EXPECT_TRUE(at::allclose(cs.act_second_moment, tr.pow(2).mean(0), 1e-12, 0));
  EXPECT_TRUE(at::allclose(cs.act_absmax, tr.abs().amax(0), 1e-12, 0));
  ASSERT_EQ(cs.segments.size(), 2u);
  EXPECT_EQ(cs.segments[1].begin, 256);
  EXPECT_EQ(cs.segments[1].end, 512);
}

TEST_F(SiteReorder, permutations_stay_in_their_segments_and_change_nothing_in_full_precision) {
  auto ref_model = test::builtin_flux();
  const at::Tensor x = ref_model->sample_inputs(2, 9);
  const at::Tensor y = run_trajectory(*ref_model, x, 0);
  auto m = test::builtin_flux();
  for (LinearSite* s : m->linear_sites())
    if (s->key().find("double.") == 0 || s->key().find("single.") == 0) rotate(*s, 64);
  auto joint = test::make_plugin<Ordering>(test::builtin(), "{name: joint_second_moment, alpha: 0.5}");
  SiteOrderingOptions o;
  o.ordering = joint.get();
  o.ordering_name = "joint_second_moment";
  o.segment = 64;
  o.selects = [](const std::string& k) { return k.find("double.") == 0 || k.find("single.") == 0; };
  const MethodReport r = reorder_site_inputs(*m, cal_, o);
  ASSERT_FALSE(r.permutations.empty());
  int64_t moved = 0;
  for (const PermutationDecision& d : r.permutations) {
    EXPECT_TRUE(d.accepted);
    EXPECT_EQ(d.kind, "site_input");
    const at::Tensor p = d.permutation;
    for (int64_t j = 0; j < p.size(0); ++j) EXPECT_EQ(p[j].item<int64_t>() / 64, j / 64) << d.consumers[0];
    moved += p.ne(at::arange(p.size(0), at::kLong)).sum().item<int64_t>();
  }
  EXPECT_GT(moved, 0);
  EXPECT_EQ(site(*m, "double.0.img.mlp.down").input_transform()->describe(), "regular block 64+gather");
  EXPECT_LT(test::rel_l2(run_trajectory(*m, x, 0), y), 1e-5);
}

TEST_F(SiteReorder, the_acceptance_rule_runs_on_transformed_rows) {
  auto m = test::builtin_flux();
  auto int4 = test::make_plugin<NumberFormat>(test::builtin(), "{name: int, bits: 4, group_size: 16}");
  auto joint = test::make_plugin<Ordering>(test::builtin(), "{name: joint_second_moment, alpha: 0.5}");
  AcceptanceRule rule;
  rule.weight_format = int4;
  rule.act_format = int4;
  SiteOrderingOptions o;
  o.ordering = joint.get();
  o.ordering_name = "joint_second_moment";
  o.segment = 64;
  o.acceptance = &rule;
  int accepted = 0, rejected = 0;
  for (LinearSite* s : m->linear_sites()) {
    if (s->key().find("double.") != 0 && s->key().find("single.") != 0) continue;
    rotate(*s, 64);
    const at::Tensor rows = s->input_transform()->apply(cal_->pooled(s->key()).rows.to(at::kFloat));
    const at::Tensor w = s->weight();
    MethodReport r;
    const PermutationDecision d = reorder_site_input(*s, cal_, o, 0, r);
    EXPECT_DOUBLE_EQ(d.error_orig, permutation_error(rows, {w}, at::Tensor(), rule)) << s->key();
    EXPECT_DOUBLE_EQ(d.error_perm, permutation_error(rows, {w}, d.permutation, rule)) << s->key();
    EXPECT_EQ(d.accepted, d.error_perm < d.error_orig) << s->key();
    (d.accepted ? accepted : rejected)++;
    EXPECT_EQ(at::equal(s->weight(), w), !d.accepted) << s->key();
  }
  EXPECT_GT(accepted, 0);
  EXPECT_GT(rejected + accepted, 4);
}

TEST_F(SiteReorder, orderings_after_a_rotation_need_reservoir_rows) {
  auto m = test::builtin_flux();
  auto m2 = test::builtin_flux();
  const Calibration no_rows = test::calibrate_all(*m2, 1, 0);
  LinearSite& s = site(*m, "double.0.img.mlp.down");
  rotate(s, 64);
  EXPECT_EQ(test::message_of([&] { transformed_channel_stats(s, no_rows, -1, 0, 0, true); }),
            "an ordering after the rotation at 'double.0.img.mlp.down' needs calibration input rows: set "
            "'calibration.keep_rows' > 0");
}

}  // namespace
}  // namespace pqlab
