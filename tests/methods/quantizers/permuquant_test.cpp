// permuquant (methods/quantizers/permuquant.cpp) through the real runner on the built-in model:
// config and needs; with the identity ordering it is RTN bit for bit (so its control is the RTN
// baseline); with its paired control, what the result file holds (decisions, permutations,
// paired differences) and that a re-run decides the same. The acceptance rule's invariants are
// tested on reorder_sites itself: tests/framework/quant/reorder_test.cpp.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>

#include "framework/core/error.h"
#include "framework/experiment/result_paths.h"
#include "framework/experiment/runner.h"
#include "framework/io/hdf5_file.h"
#include "tests/common/error_text.h"
#include "tests/common/plugins.h"
#include "tests/common/temp_dir.h"

namespace pqlab {
namespace {

namespace rp = result_paths;

const std::string kFormats =
    "weight_format: {name: int, bits: 4, group_size: 16}, act_format: {name: int, bits: 4, group_size: 16}, "
    "only: [\"double.*.attn.*\", \"double.*.mlp.*\", \"single.*.linear1\", \"single.*.linear2\"]";

std::string experiment(const std::vector<std::string>& variants) {
  std::string yaml = std::string("include: ") + PQLAB_SOURCE_DIR + "/configs/models/flux_fmnist.yaml\n" +
                     "model: {steps: 4}\ndata: {eval_samples: 6, layer_samples: 3}\n"
                     "calibration: {samples: 2, keep_rows: 64}\nmetrics: [rel_mse]\nbootstrap: {resamples: 200}\n"
                     "images: {metrics: [class_accuracy], paired: [{name: psnr, peak: 1}], grids: false}\nvariants:\n";
  for (const std::string& v : variants) yaml += "  - " + v + "\n";
  return yaml;
}

RunSummary run(test::TempDir& dir, const std::string& name, const std::vector<std::string>& variants) {
  ExperimentSpec spec = load_experiment(dir.write(name + ".yaml", experiment(variants)), {}, test::builtin());
  RunOptions o;
  o.out_dir = dir.file(name);
  return run_experiment(spec, o);
}

TEST(permuquant, config_defaults_and_what_it_needs) {
  auto pq = test::make_plugin<Method>(test::builtin(), "{name: permuquant, weight_format: int, act_format: int}");
  EXPECT_TRUE(pq->needs().statistics);
  EXPECT_EQ(pq->needs().keep_rows, 256);
  EXPECT_NE(pq->describe().find("joint_second_moment alpha=0.5 descending, tau=0.0000 on layer_output"), std::string::npos)
      << pq->describe();
  auto id = test::make_plugin<Method>(test::builtin(), "{name: permuquant, weight_format: int, ordering: identity}");
  EXPECT_FALSE(id->needs().statistics);
  EXPECT_EQ(id->needs().keep_rows, 0);
  EXPECT_EQ(test::message_of([] {
              test::make_plugin<Method>(test::builtin(), "{name: permuquant, weight_format: int, accept_error: activation}");
            }).find("accept_error 'activation' needs an act_format") != std::string::npos,
            true);
  EXPECT_THROW(test::make_plugin<Method>(test::builtin(), "{name: permuquant, weight_format: int, tau: -0.1}"), ConfigError);
  EXPECT_THROW(test::make_plugin<Method>(test::builtin(), "{name: permuquant, weight_format: int, accept_error: output}"),
               ConfigError);
}

TEST(permuquant, with_the_identity_ordering_it_is_rtn_bit_for_bit) {
  test::TempDir dir;
  const RunSummary s = run(dir, "id", {"{label: rtn, method: {name: rtn, " + kFormats + "}}",
                                       "{label: pq, method: {name: permuquant, ordering: identity, " + kFormats + "}}"});
  ASSERT_EQ(s.variants.size(), 2u);  // identity is its own control: none added
  H5Reader r(s.result_path);
  for (const std::string& d : {rp::variant_tf_isolated(""), rp::variant_tf_velocity_rel_mse(""),
                               rp::variant_fr_latent_rel_mse(""), rp::variant_images("")}) {
    const std::string tail = d.substr(rp::variant("").size());
    EXPECT_TRUE(at::equal(r.read(rp::variant("rtn") + tail), r.read(rp::variant("pq") + tail))) << tail;
  }
  EXPECT_FALSE(r.exists(rp::variant_permutations("pq")));
}

TEST(permuquant, runs_with_its_paired_control_and_records_every_decision) {
  test::TempDir dir;
  const std::string pq = "{label: pq, method: {name: permuquant, " + kFormats + "}}";
  const RunSummary s = run(dir, "pq", {pq});
  ASSERT_EQ(s.variants.size(), 2u);
  EXPECT_EQ(s.variants[1].label, "pq.control");
  EXPECT_EQ(s.variants[0].control, "pq.control");
  EXPECT_EQ(s.variants[1].control_of, "pq");
  H5Reader r(s.result_path);
  EXPECT_EQ(r.read_strings(rp::kVariantLabels), (std::vector<std::string>{"pq", "pq.control"}));

  // Decisions: one per permutation site, accepted iff the error went down (tau = 0), and the
  // proposals concatenated with their offsets.
  const std::string g = rp::variant_permutations("pq");
  const at::Tensor acc = r.read(g + "/accepted"), e0 = r.read(g + "/error_orig"), e1 = r.read(g + "/error_perm");
  const at::Tensor off = r.read(g + "/permutation_offsets"), perm = r.read(g + "/permutation");
  const auto kinds = r.read_strings(g + "/kind");
  ASSERT_EQ(kinds.size(), 18u);  // 2 double + 2 single blocks of the built-in model
  EXPECT_TRUE(at::equal(acc.to(at::kBool), e1.lt(e0)));
  EXPECT_GT(acc.sum().item<int64_t>(), 0);
  EXPECT_EQ(off[-1].item<int64_t>(), perm.numel());
  for (int64_t p = 0; p < 18; ++p) {
    const at::Tensor one = perm.narrow(0, off[p].item<int64_t>(), off[p + 1].item<int64_t>() - off[p].item<int64_t>());
    EXPECT_TRUE(at::equal(std::get<0>(one.sort()), at::arange(one.numel(), at::kLong))) << p;  // a permutation
  }
  EXPECT_FALSE(r.exists(rp::variant_permutations("pq.control")));  // the control proposes nothing

  // Paired differences: exactly variant minus control per sample, the interval around the mean.
  const auto diff = [&](const std::string& name) { return r.read(rp::variant_paired_number("pq", name) + "/diffs"); };
  const at::Tensor vel = r.read(rp::variant_tf_velocity_rel_mse("pq")), velc = r.read(rp::variant_tf_velocity_rel_mse("pq.control"));
  EXPECT_TRUE(at::allclose(diff("velocity"), vel.mean(1) - velc.mean(1), 0, 1e-15));
  const at::Tensor lat = r.read(rp::variant_fr_latent_rel_mse("pq")), latc = r.read(rp::variant_fr_latent_rel_mse("pq.control"));
  EXPECT_TRUE(at::equal(diff("latent"), lat.select(1, 3) - latc.select(1, 3)));
  EXPECT_TRUE(at::equal(diff("rel_mse"), r.read(rp::variant_output_metric("pq", "rel_mse")) -
                                             r.read(rp::variant_output_metric("pq.control", "rel_mse"))));
  EXPECT_EQ(diff("class_accuracy").numel(), 6);
  EXPECT_EQ(diff("psnr").numel(), 6);
  EXPECT_EQ(r.read(rp::variant_paired_number("pq", "velocity") + "/step_mean").numel(), 4);
  for (const PairedDifference& d : s.variants[0].paired) {
    EXPECT_LE(d.delta.lo, d.delta.mean) << d.name;
    EXPECT_GE(d.delta.hi, d.delta.mean) << d.name;
    EXPECT_EQ(d.delta.resamples, 200) << d.name;
  }
  const std::string table = format_summary_table(s);
  EXPECT_NE(table.find("\u0394 vs control"), std::string::npos) << table;
  EXPECT_NE(table.find("95% interval"), std::string::npos) << table;
  EXPECT_NE(table.find("permutation sites accepted / considered"), std::string::npos) << table;
  EXPECT_NE(table.find("\npq.control "), std::string::npos) << table;
  EXPECT_NE(table.find("permuquant[control]"), std::string::npos) << table;

  // A re-run proposes and decides the same, bit for bit.
  H5Reader again(run(dir, "pq_again", {pq}).result_path);
  for (const char* d : {"/accepted", "/error_orig", "/error_perm", "/permutation"})
    EXPECT_TRUE(at::equal(r.read(g + d), again.read(g + d))) << d;
  EXPECT_TRUE(at::equal(diff("velocity"), again.read(rp::variant_paired_number("pq", "velocity") + "/diffs")));
}

}  // namespace
}  // namespace pqlab
