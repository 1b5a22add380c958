// reorder_sites and the acceptance error (framework/quant/reorder.h): E follows its formula; the
// rule never keeps a permutation that raises the calibration error; what it keeps is absorbed
// and nothing else; absorbed permutations of every site kind leave the model's output at
// round-off; decisions and permutations repeat exactly.
#include "framework/quant/reorder.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "framework/core/error.h"
#include "framework/interfaces/number_format.h"
#include "framework/interfaces/ordering.h"
#include "framework/quant/linear_site.h"
#include "tests/common/builtin_model.h"

namespace pqlab {
namespace {

std::shared_ptr<const NumberFormat> int4(int group) {
  return test::make_plugin<NumberFormat>(test::builtin(),
                                         "{name: int, bits: 4, group_size: " + std::to_string(group) + "}");
}

AcceptanceRule rule(AcceptError e, double tau = 0) {
  AcceptanceRule r;
  r.tau = tau;
  r.error = e;
  r.weight_format = int4(8);
  r.act_format = int4(8);
  return r;
}

TEST(reorder, permutation_error_follows_its_formula) {
  auto gen = at::detail::createCPUGenerator(3);
  const at::Tensor x = at::normal(0.0, 1.0, {16, 32}, gen, at::kFloat) * at::linspace(0.1, 8, 32);
  const std::vector<at::Tensor> w = {at::normal(0.0, 1.0, {6, 32}, gen, at::kFloat),
                                     at::normal(0.0, 1.0, {4, 32}, gen, at::kFloat)};
  const at::Tensor p = at::randperm(32, gen, at::kLong);
  const auto q = int4(8);
  double out = 0, wt = 0;
  const at::Tensor xp = x.index_select(1, p), qx = q->fake_quant(xp).to(at::kDouble);
  for (const at::Tensor& wi : w) {
    const at::Tensor wp = wi.index_select(1, p), qw = q->fake_quant(wp).to(at::kDouble);
    out += (x.to(at::kDouble).matmul(wi.to(at::kDouble).t()) - qx.matmul(qw.t())).pow(2).sum().item<double>();
    wt += (qw - wp.to(at::kDouble)).pow(2).sum().item<double>();
  }
  const double act = (qx - xp.to(at::kDouble)).pow(2).sum().item<double>();
  EXPECT_NEAR(permutation_error(x, w, p, rule(AcceptError::layer_output)), out, 1e-12 * out);
  EXPECT_NEAR(permutation_error(x, w, p, rule(AcceptError::weight)), wt, 1e-12 * wt);
  EXPECT_NEAR(permutation_error(x, w, p, rule(AcceptError::activation)), act, 1e-12 * act);
  // A permutation inside each group of 8 quantizes every group as before: the same E up to
  // float64 summation order, so it can never pass even tau = 0 by float32 noise.
  at::Tensor inside = at::arange(32, at::kLong).reshape({4, 8}).flip(1).reshape({32});
  const double e0 = permutation_error(x, w, at::Tensor(), rule(AcceptError::layer_output));
  EXPECT_NEAR(permutation_error(x, w, inside, rule(AcceptError::layer_output)), e0, 1e-13 * e0);
  AcceptanceRule no_act = rule(AcceptError::activation);
  no_act.act_format = nullptr;
  EXPECT_THROW(permutation_error(x, w, p, no_act), UsageError);
}

struct Reordered {
  MethodReport report;
  std::map<std::string, LinearSite*> sites;
};

Reordered reorder(ModelAdapter& m, const Calibration& cal, const std::string& ordering, const AcceptanceRule* r,
                  const std::set<std::string>& consumers = {}) {
  auto ord = test::make_plugin<Ordering>(test::builtin(), ordering);
  ReorderOptions o;
  o.ordering = ord.get();
  o.ordering_name = ordering;
  o.selects = [&](const std::string& key) { return consumers.empty() || consumers.count(key) > 0; };
  o.acceptance = r;
  Reordered out;
  out.report = reorder_sites(m, &cal, o);
  for (LinearSite* s : m.linear_sites()) out.sites[s->key()] = s;
  return out;
}

TEST(reorder, acceptance_never_keeps_a_permutation_that_raises_the_calibration_error) {
  auto ref = test::builtin_flux();
  const Calibration cal = test::calibrate_all(*ref, 2, 64);
  for (const double tau : {0.0, 0.05}) {
    for (const std::string ordering : {"random", "joint_second_moment"}) {
      auto m = test::builtin_flux();
      std::map<std::string, at::Tensor> w0;
      for (LinearSite* s : m->linear_sites()) w0[s->key()] = s->weight().clone();
      const AcceptanceRule r = rule(AcceptError::layer_output, tau);
      const Reordered got = reorder(*m, cal, ordering, &r);
      ASSERT_EQ(got.report.permutations.size(), m->permutation_sites().size());
      int accepted = 0;
      for (const PermutationDecision& d : got.report.permutations) {
        const std::string what = ordering + " tau " + std::to_string(tau) + " " + d.kind + " " + d.consumers[0];
        ASSERT_TRUE(std::isfinite(d.error_orig) && std::isfinite(d.error_perm)) << what;
        EXPECT_EQ(d.accepted, (d.error_orig - d.error_perm) / d.error_orig > tau) << what;
        if (d.accepted) {
          EXPECT_LT(d.error_perm, d.error_orig * (1 - tau)) << what;
        }
        accepted += d.accepted;
        // The recorded errors are E of the full-precision consumers on the site's reservoir rows.
        std::vector<at::Tensor> ws;
        for (const std::string& c : d.consumers) ws.push_back(w0.at(c));
        const at::Tensor rows = cal.pooled(d.consumers[0]).rows;
        EXPECT_DOUBLE_EQ(permutation_error(rows, ws, d.permutation, r), d.error_perm) << what;
        EXPECT_DOUBLE_EQ(permutation_error(rows, ws, at::Tensor(), r), d.error_orig) << what;
        // Accepted permutations are absorbed (consumers read the permuted columns), rejected ones
        // not: the columns stay (a consumer may still be another site's producer, rows permuted).
        for (const std::string& c : d.consumers) {
          const SiteState& st = got.sites.at(c)->state();
          EXPECT_EQ(st.column_order.defined(), d.accepted) << what;
          at::Tensor expect = w0.at(c);
          if (st.output_order.defined()) expect = expect.index_select(0, st.output_order);
          if (d.accepted) expect = expect.index_select(1, d.permutation);
          EXPECT_TRUE(at::equal(got.sites.at(c)->weight(), expect)) << what;
          if (d.accepted) {
            EXPECT_TRUE(at::equal(st.column_order.cpu(), d.permutation)) << what;
          }
        }
      }
      // The rule decides: random proposals are rejected somewhere, and something is kept.
      EXPECT_GT(accepted, 0) << ordering << " tau " << tau;
      if (ordering == "random") {
        EXPECT_LT(accepted, static_cast<int>(got.report.permutations.size())) << tau;
      }
    }
  }
}

TEST(reorder, absorbed_permutations_of_every_site_kind_leave_the_output_at_round_off) {
  // The built-in model in fp32, no quantization: one site kind at a time, every proposal absorbed.
  auto probe = test::builtin_flux();
  const Calibration cal = test::calibrate_all(*probe, 1, 0);
  const at::Tensor x = probe->sample_inputs(2, 5);
  const at::Tensor y = run_trajectory(*probe, x, 0);
  std::map<std::string, std::set<std::string>> consumers_of_kind;
  for (const PermutationSite& s : probe->permutation_sites())
    consumers_of_kind[s.kind].insert(s.consumers.begin(), s.consumers.end());
  EXPECT_GE(consumers_of_kind.size(), 4u);
  for (const auto& [kind, consumers] : consumers_of_kind) {
    auto m = test::builtin_flux();
    const Reordered got = reorder(*m, cal, "random", nullptr, consumers);
    ASSERT_FALSE(got.report.permutations.empty()) << kind;
    for (const PermutationDecision& d : got.report.permutations) {
      EXPECT_TRUE(d.accepted) << kind;
      EXPECT_FALSE(at::equal(d.permutation, at::arange(d.permutation.numel(), at::kLong))) << kind;
    }
    const double rel = test::rel_l2(run_trajectory(*m, x, 0), y);
    std::printf("%-16s relative output change %.3g\n", kind.c_str(), rel);
    EXPECT_LT(rel, 1e-5) << kind;
  }
}

TEST(reorder, decisions_and_permutations_repeat_exactly) {
  auto probe = test::builtin_flux();
  const Calibration cal = test::calibrate_all(*probe, 2, 64);
  const AcceptanceRule r = rule(AcceptError::layer_output);
  auto a = test::builtin_flux(), b = test::builtin_flux();
  const MethodReport ra = reorder(*a, cal, "joint_second_moment", &r).report;
  const MethodReport rb = reorder(*b, test::calibrate_all(*test::builtin_flux(), 2, 64), "joint_second_moment", &r).report;
  ASSERT_EQ(ra.permutations.size(), rb.permutations.size());
  for (size_t i = 0; i < ra.permutations.size(); ++i) {
    EXPECT_EQ(ra.permutations[i].accepted, rb.permutations[i].accepted) << i;
    EXPECT_EQ(ra.permutations[i].error_orig, rb.permutations[i].error_orig) << i;
    EXPECT_EQ(ra.permutations[i].error_perm, rb.permutations[i].error_perm) << i;
    EXPECT_TRUE(at::equal(ra.permutations[i].permutation, rb.permutations[i].permutation)) << i;
  }
  const auto sa = a->linear_sites(), sb = b->linear_sites();
  for (size_t i = 0; i < sa.size(); ++i) EXPECT_TRUE(at::equal(sa[i]->weight(), sb[i]->weight())) << sa[i]->key();
}

TEST(reorder, the_acceptance_rule_needs_reservoir_rows) {
  auto m = test::builtin_flux();
  const Calibration cal = test::calibrate_all(*m, 1, 0);
  const AcceptanceRule r = rule(AcceptError::layer_output);
  try {
    reorder(*m, cal, "random", &r);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "the acceptance rule needs calibration input rows: set 'calibration.keep_rows' > 0");
  }
}

}  // namespace
}  // namespace pqlab
