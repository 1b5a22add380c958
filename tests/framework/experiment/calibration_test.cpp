// Calibration statistics: exact sums, batch invariance, buckets, pooled values, bounded memory.
#include "framework/experiment/calibration.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <memory>
#include <set>

#include "framework/experiment/trajectory.h"
#include "framework/interfaces/model_adapter.h"
#include "framework/quant/linear_site.h"
#include "tests/common/builtin_model.h"
#include "tests/common/fake_diffusion.h"

namespace pqlab {
namespace {

using test::OneSiteDiffusion;

struct Observed {
  Calibration cal;
  std::vector<std::vector<at::Tensor>> inputs;  // [step] -> inputs seen
};

Observed calibrate(OneSiteDiffusion& m, int64_t samples, int64_t batch, std::vector<int64_t> buckets, int64_t keep) {
  CalibrationCollector c(m.linear_sites(), std::move(buckets), 4, keep, 42);
  StepContext current;
  c.arm(&current);
  Observed o;
  o.inputs.resize(4);
  const at::Tensor x0 = m.sample_inputs(samples, 7);
  TrajectoryHooks hooks;
  hooks.before_call = [&](const StepContext& ctx) { current = ctx; };
  hooks.after_call = [&](const StepContext& ctx, const at::Tensor& x, const at::Tensor&) {
    o.inputs[static_cast<size_t>(ctx.step)].push_back(x + static_cast<double>(ctx.step));
  };
  for (int64_t i = 0; i < samples; i += batch) run_trajectory(m, x0.narrow(0, i, std::min(batch, samples - i)), i, hooks);
  c.disarm();
  o.cal = c.finish();
  return o;
}

double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-300)).item<double>();
}

TEST(calibration, statistics_are_exact_per_bucket_and_pooled) {
  OneSiteDiffusion m;
  const Observed o = calibrate(m, 3, 1, {0, 2}, 0);
  const auto& st = o.cal.stats.at("s");
  ASSERT_EQ(st.size(), 2u);
  for (int b = 0; b < 2; ++b) {
    const at::Tensor x = at::cat({at::cat(o.inputs[2 * b], 0), at::cat(o.inputs[2 * b + 1], 0)}, 0).reshape({-1, 6}).to(at::kDouble);
    EXPECT_EQ(st[b].count.item<double>(), 3 * 5 * 2);  // samples x tokens x steps in the bucket
    EXPECT_LT(rel_diff(st[b].sum, x.sum(0)), 1e-12);
    EXPECT_LT(rel_diff(st[b].sumsq, x.pow(2).sum(0)), 1e-12);
    EXPECT_TRUE(at::equal(st[b].absmax, x.abs().amax(0)));
  }
  EXPECT_EQ(o.cal.bucket_of(1), 0);
  EXPECT_EQ(o.cal.bucket_of(3), 1);
  const InputStats p = o.cal.pooled("s");
  EXPECT_EQ(p.count.item<double>(), 60);
  EXPECT_LT(rel_diff(p.sum, st[0].sum + st[1].sum), 1e-15);
  const at::Tensor w = m.site_->weight().to(at::kDouble);
  EXPECT_TRUE(at::allclose(o.cal.weight_sq_mean.at("s"), w.pow(2).mean(0)));
  EXPECT_TRUE(at::equal(o.cal.weight_absmax.at("s"), w.abs().amax(0)));
}

TEST(calibration, one_batch_or_many_give_the_same_statistics_and_reservoir) {
  OneSiteDiffusion m(/*through_site=*/false);  // identical site inputs in every batching
  const Observed one = calibrate(m, 6, 6, {}, 7), many = calibrate(m, 6, 1, {}, 7), some = calibrate(m, 6, 4, {}, 7);
  for (const Observed* o : {&many, &some}) {
    const auto& a = one.cal.stats.at("s");
    const auto& b = o->cal.stats.at("s");
    ASSERT_EQ(a.size(), 4u);  // default: one bucket per step
    for (size_t k = 0; k < a.size(); ++k) {
      EXPECT_EQ(a[k].count.item<double>(), b[k].count.item<double>());
      EXPECT_LT(rel_diff(b[k].sum, a[k].sum), 1e-12);
      EXPECT_LT(rel_diff(b[k].sumsq, a[k].sumsq), 1e-12);
      EXPECT_TRUE(at::equal(b[k].absmax, a[k].absmax));
      EXPECT_TRUE(at::equal(b[k].keys, a[k].keys));
      EXPECT_TRUE(at::equal(b[k].rows, a[k].rows));
    }
  }
}

TEST(calibration, bf16_inputs_give_exact_float64_sums) {
  auto gen = at::detail::createCPUGenerator(11);
  LinearSite site("b", "r", at::zeros({2, 8}, at::kBFloat16), at::Tensor());
  CalibrationCollector c({&site}, {}, 1, 0, 1);
  const at::Tensor x = at::normal(0.0, 3.0, {2, 300, 8}, gen, at::TensorOptions().dtype(at::kFloat)).to(at::kBFloat16);
  StepContext ctx;
  c.observe(site, x, ctx);
  const InputStats st = c.finish().stats.at("b")[0];
  const at::Tensor xd = x.reshape({-1, 8}).to(at::kDouble);
  EXPECT_LT(rel_diff(st.sum, xd.sum(0)), 1e-14);
  EXPECT_LT(rel_diff(st.sumsq, xd.pow(2).sum(0)), 1e-14);
  EXPECT_TRUE(at::equal(st.absmax, xd.abs().amax(0)));
}

TEST(calibration, memory_does_not_grow_with_the_sample_count) {
  OneSiteDiffusion m;
  const Observed small = calibrate(m, 2, 1, {}, 4), large = calibrate(m, 12, 1, {}, 4);
  for (size_t k = 0; k < 4; ++k) {
    const InputStats& a = small.cal.stats.at("s")[k];
    const InputStats& b = large.cal.stats.at("s")[k];
    for (auto [x, y] : {std::pair{a.sum, b.sum}, {a.sumsq, b.sumsq}, {a.absmax, b.absmax}, {a.rows, b.rows}})
      EXPECT_EQ(x.sizes(), y.sizes());
    EXPECT_EQ(b.rows.size(0), 4);
    EXPECT_EQ(b.count.item<double>(), 12 * 5);
    // The reservoir holds real input rows of that step.
    const at::Tensor all = at::cat(large.inputs[k], 0).reshape({-1, 6});
    for (int64_t r = 0; r < 4; ++r) EXPECT_TRUE((all - b.rows[r]).abs().sum(1).eq(0).any().item<bool>());
  }
}

TEST(calibration, site_channel_stats_pool_consumers_and_pick_buckets) {
  // Two consumers of one input (K = 4): 2 and 6 output rows.
  LinearSite a("a", "r", at::randn({2, 4}, at::kDouble), at::Tensor()), b("b", "r", at::randn({6, 4}, at::kDouble), at::Tensor());
  const std::map<std::string, LinearSite*> sites{{"a", &a}, {"b", &b}};
  Calibration cal;
  const auto o = at::TensorOptions().dtype(at::kDouble);
  InputStats b0{at::tensor(2.0, o), at::zeros({4}, o), at::tensor({2., 8., 0.5, 4.}, o), at::tensor({1., 2., .5, 2.}, o), {}, {}};
  InputStats b1{at::tensor(6.0, o), at::zeros({4}, o), at::tensor({6., 6., 6., 6.}, o), at::tensor({1., 1., 3., 1.}, o), {}, {}};
  cal.stats["a"] = {b0, b1};
  cal.stats["b"] = {b0, b1};
  for (LinearSite* s : {&a, &b}) {
    const at::Tensor w = s->weight().to(at::kDouble);
    cal.weight_sq_mean[s->key()] = w.pow(2).mean(0);
    cal.weight_absmax[s->key()] = w.abs().amax(0);
  }
  const PermutationSite site{"norm", {}, {"a", "b"}, {{0, 0, 4, 2}}, true};
  const ChannelStats pooled = site_channel_stats(cal, site, sites, -1, 9);
  EXPECT_TRUE(at::allclose(pooled.act_second_moment, at::tensor({1., 14. / 8, 6.5 / 8, 10. / 8}, o)));
  EXPECT_TRUE(at::equal(pooled.act_absmax, at::tensor({1., 2., 3., 2.}, o)));
  const ChannelStats first = site_channel_stats(cal, site, sites, 0, 9);
  EXPECT_TRUE(at::allclose(first.act_second_moment, at::tensor({1., 4., .25, 2.}, o)));
  // Weight moments over all 8 rows of both consumers.
  const at::Tensor all = at::cat({a.weight(), b.weight()}, 0).to(at::kDouble);
  EXPECT_TRUE(at::allclose(pooled.weight_second_moment, all.pow(2).mean(0), 1e-14, 0));
  EXPECT_TRUE(at::equal(pooled.weight_absmax, all.abs().amax(0)));
  ASSERT_EQ(pooled.segments.size(), 2u);  // groups of 2 (per head)
  EXPECT_EQ(pooled.segments[1].begin, 2);
  EXPECT_EQ(pooled.k, 4);
  EXPECT_EQ(pooled.seed, 9u);
  EXPECT_THROW(site_channel_stats(cal, site, sites, 2, 9), RuntimeError);  // no bucket 2
  const PermutationSite missing{"norm", {}, {"c"}, {{0, 0, 4, 0}}, true};
  try {
    site_channel_stats(cal, missing, sites, -1, 0);
    FAIL() << "expected an error";
  } catch (const RuntimeError& e) {
    EXPECT_STREQ(e.what(), "permutation site 'norm': no calibration statistics for consumer 'c'");
  }
}

}  // namespace
}  // namespace pqlab

namespace pqlab {
namespace {

// The built-in FLUX's sites see different token counts (image and text streams, single blocks),
// and the collector computes each call's reservoir selection once for every site that holds the
// same priorities. Each site must still keep exactly the rows a collector watching it alone keeps.
TEST(calibration, shared_reservoir_selection_equals_each_site_on_its_own) {
  auto m = test::builtin_flux(3);
  const auto sites = m->linear_sites();
  auto collect = [&](const std::vector<LinearSite*>& watched) {
    CalibrationCollector c(watched, {0, 2}, 3, 16, 9);
    StepContext current;
    c.arm(&current);
    TrajectoryHooks hooks;
    hooks.before_call = [&current](const StepContext& ctx) { current = ctx; };
    const at::Tensor x0 = m->sample_inputs(3, 4);
    run_trajectory(*m, x0.narrow(0, 0, 2), 0, hooks);
    run_trajectory(*m, x0.narrow(0, 2, 1), 2, hooks);
    c.disarm();
    return c.finish();
  };
  const Calibration all = collect(sites);
  std::set<int64_t> ks;
  for (LinearSite* s : sites) {
    const Calibration alone = collect({s});
    for (size_t b = 0; b < 2; ++b) {
      const InputStats& a = all.stats.at(s->key())[b];
      const InputStats& o = alone.stats.at(s->key())[b];
      ASSERT_TRUE(a.rows.defined()) << s->key();
      EXPECT_TRUE(at::equal(a.rows, o.rows)) << s->key() << " bucket " << b;
      EXPECT_TRUE(at::equal(a.keys, o.keys)) << s->key() << " bucket " << b;
    }
    ks.insert(s->in_features());
  }
  EXPECT_GE(ks.size(), 2u);
}

}  // namespace
}  // namespace pqlab
