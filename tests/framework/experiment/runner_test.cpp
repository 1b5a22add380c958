// The runner's invariants, on the built-in toy model (one step) and the built-in Fashion-MNIST
// FLUX (12 Euler steps), through load_experiment and run_experiment as `pqlab run` calls them.
#include "framework/experiment/runner.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "framework/core/error.h"
#include "framework/experiment/result_paths.h"
#include "framework/io/hdf5_file.h"
#include "tests/common/plugins.h"
#include "tests/common/temp_dir.h"

namespace pqlab {
namespace {

namespace rp = result_paths;

const std::string kRtnAll = "{name: rtn, weight_format: {name: int, bits: 4, group_size: 16}, act_format: {name: int, bits: 4, group_size: 16}}";
// The layers the Fashion-MNIST experiment quantizes (embedders have K = 4, which no group of 16 divides).
const std::string kRtnFlux = "{name: rtn, weight_format: {name: int, bits: 4, group_size: 16}, act_format: {name: int, bits: 4, group_size: 16}, only: [\"double.*.attn.*\", \"double.*.mlp.*\", \"single.*.linear1\", \"single.*.linear2\"]}";
const std::string kRtnNone = "{name: rtn, weight_format: int, act_format: int, only: [nothing]}";
const std::string kRtn8 = "{name: rtn, weight_format: {name: int, bits: 8}, act_format: {name: int, bits: 8}}";

// A shrunk Fashion-MNIST FLUX: 4 Euler steps, 3 held-out samples, 2 calibration trajectories.
const std::string kFmnist = std::string("include: ") + PQLAB_SOURCE_DIR + "/configs/models/flux_fmnist.yaml\n" +
                            "model: {steps: 4}\n"
                            "data: {eval_samples: 3, layer_samples: 2}\n"
                            "calibration: {samples: 2, keep_rows: 8, buckets: [0, 2]}\n"
                            "metrics: [rel_mse]\n";
const std::string kToy = "model: {adapter: toy_mlp, hidden: 64, blocks: 2, tokens: 8}\n"
                         "data: {eval_samples: 3, layer_samples: 2}\n"
                         "metrics: [rel_mse]\n";

class Runner : public ::testing::Test {
 protected:
  // Runs `model_yaml` with the given variants (label, method) and returns the result's path.
  std::string run(const std::string& name, const std::string& model_yaml,
                  const std::vector<std::pair<std::string, std::string>>& variants) {
    std::string yaml = model_yaml + "variants:\n";
    for (const auto& [label, method] : variants) yaml += "  - {label: " + label + ", method: " + method + "}\n";
    const std::string path = dir_.write(name + ".yaml", yaml);
    ExperimentSpec spec = load_experiment(path, {}, test::builtin());
    RunOptions o;
    o.out_dir = dir_.file("out");
    return run_experiment(spec, o).result_path;
  }
  test::TempDir dir_;
};

TEST_F(Runner, no_op_method_gives_exactly_zero_error) {
  H5Reader r(run("noop", kFmnist, {{"none", kRtnNone}}));
  for (const std::string& p : {rp::variant_tf_isolated("none"), rp::variant_tf_propagated("none"),
                                rp::variant_tf_velocity_rel_mse("none"), rp::variant_fr_latent_rel_mse("none")})
    EXPECT_EQ(r.read(p).abs().max().item<double>(), 0.0) << p;
  EXPECT_EQ(r.read(rp::variant_tf_isolated("none")).sizes(), (at::IntArrayRef{static_cast<int64_t>(r.read_strings(rp::kLayerKey).size()), 4}));
  EXPECT_NEAR(r.read(rp::variant_tf_velocity_cosine("none")).min().item<double>(), 1.0, 1e-14);
}

TEST_F(Runner, isolated_equals_propagated_at_the_first_quantized_site) {
  H5Reader r(run("first", kFmnist, {{"w4", kRtnFlux}}));
  const at::Tensor iso = r.read(rp::variant_tf_isolated("w4")), prop = r.read(rp::variant_tf_propagated("w4"));
  const at::Tensor q = r.read(rp::variant_quantized("w4"));
  int64_t first = 0;
  while (q[first].item<int64_t>() == 0) ++first;
  EXPECT_TRUE(at::equal(iso[first], prop[first]));
  EXPECT_GT(iso[first].min().item<double>(), 0.0);
  // Downstream, errors accumulate: some site's propagated error exceeds its isolated one.
  EXPECT_TRUE((prop > iso * 1.5).any().item<bool>());
  // Free-running latents drift away from full precision as the steps go on.
  const at::Tensor lat = r.read(rp::variant_fr_latent_rel_mse("w4"));
  EXPECT_EQ(lat.sizes(), (at::IntArrayRef{3, 4}));
  EXPECT_GT(lat.select(1, 3).mean().item<double>(), lat.select(1, 0).mean().item<double>());
}

TEST_F(Runner, results_do_not_depend_on_variant_order_and_reruns_are_bit_identical) {
  const std::string a = run("ab", kToy, {{"w4", kRtnAll}, {"w8", kRtn8}});
  const std::string b = run("ba", kToy, {{"w8", kRtn8}, {"w4", kRtnAll}});
  const std::string c = run("ab2", kToy, {{"w4", kRtnAll}, {"w8", kRtn8}});
  H5Reader ra(a), rb(b), rc(c);
  for (const std::string label : {"w4", "w8"})
    for (const std::string& p : {rp::variant_tf_isolated(label), rp::variant_tf_propagated(label),
                                 rp::variant_tf_velocity_rel_mse(label), rp::variant_fr_latent_rel_mse(label),
                                 rp::variant_output_metric(label, "rel_mse"), rp::variant_weight_rel_mse(label)}) {
      EXPECT_TRUE(at::equal(ra.read(p), rb.read(p))) << p;
      EXPECT_TRUE(at::equal(ra.read(p), rc.read(p))) << p;
    }
  // The one-step toy: the velocity error of its single step is its output error.
  EXPECT_LT((ra.read(rp::variant_tf_velocity_rel_mse("w4")).select(1, 0) -
             ra.read(rp::variant_output_metric("w4", "rel_mse")).narrow(0, 0, 2)).abs().max().item<double>(), 1e-12);
}

TEST_F(Runner, packed_and_fake_quantized_weights_give_bit_identical_results) {
  const std::string nvfp4 = "{name: rtn, weight_format: nvfp4, act_format: {name: nvfp4, global_scale: none}, only: "
                            "[\"double.*.attn.*\", \"double.*.mlp.*\", \"single.*.linear1\", \"single.*.linear2\"]}";
  const std::string packed = run("packed", kFmnist + "pack_weights: true\n", {{"w4", kRtnFlux}, {"fp4", nvfp4}});
  const std::string dense = run("dense", kFmnist + "pack_weights: false\n", {{"w4", kRtnFlux}, {"fp4", nvfp4}});
  H5Reader rp_(packed), rd(dense);
  for (const std::string label : {"w4", "fp4"})
    for (const std::string& p : {rp::variant_tf_isolated(label), rp::variant_tf_propagated(label),
                                 rp::variant_tf_velocity_rel_mse(label), rp::variant_fr_latent_rel_mse(label),
                                 rp::variant_weight_rel_mse(label)}) {
      EXPECT_TRUE(at::equal(rp_.read(p), rd.read(p))) << p;
      EXPECT_GT(rp_.read(p).abs().max().item<double>(), 0.0) << p;
    }
}

TEST_F(Runner, calibration_is_stored_with_its_samples_and_buckets) {
  H5Reader r(run("cal", kFmnist, {{"w4", kRtnFlux}}));
  EXPECT_TRUE(at::equal(r.read(rp::calibration_samples()), at::tensor({3, 4}, at::kLong)));  // after the 3 held-out
  EXPECT_EQ(r.read_strings(rp::calibration_prompts()).size(), 2u);
  EXPECT_TRUE(at::equal(r.read(rp::calibration_buckets()), at::tensor({0, 2}, at::kLong)));
  const std::vector<std::string> keys = r.read_strings(rp::calibration_site_keys());
  ASSERT_FALSE(keys.empty());
  const std::string g = rp::calibration_site(keys[0]);
  const at::Tensor count = r.read(g + "/count");
  // 2 trajectories x 256 image tokens (+ text tokens) x 2 steps per bucket, the same in both.
  EXPECT_EQ(count.numel(), 2);
  EXPECT_EQ(count[0].item<double>(), count[1].item<double>());
  EXPECT_EQ(r.read(g + "/rows").sizes()[1], 8);
  EXPECT_LT((r.read(g + "/pooled_sum") - r.read(g + "/sum").sum(0)).abs().max().item<double>(), 1e-9);
  EXPECT_EQ(r.read(rp::evaluation_timesteps()).numel(), 5);
}

}  // namespace
}  // namespace pqlab

namespace pqlab {
namespace {

std::vector<std::string> labels_of(const ExperimentSpec& s) {
  std::vector<std::string> v;
  for (const auto& x : s.variants) v.push_back(x.label + (x.control_of.empty() ? "" : "<" + x.control_of));
  return v;
}

TEST(RunnerControls, control_variants_follow_the_variant_they_control) {
  test::TempDir dir;
  const std::string m = "{name: rtn, weight_format: int, act_format: int";
  const std::string path = dir.write("c.yaml", kToy + "variants:\n"
      "  - {label: plain, method: " + m + "}}\n"                                       // identity: its own control
      "  - {label: rand, method: " + m + ", ordering: random}}\n"                      // default control: identity
      "  - {label: joint, control: random, method: " + m + ", ordering: joint_second_moment}}\n"
      "  - {label: off, control: none, method: " + m + ", ordering: random}}\n"
      "  - {label: same, control: random, method: " + m + ", ordering: random}}\n");   // already the control ordering
  const ExperimentSpec s = load_experiment(path, {}, test::builtin());
  EXPECT_EQ(labels_of(s), (std::vector<std::string>{"plain", "rand", "rand.control<rand", "joint",
                                                    "joint.control<joint", "off", "same"}));
  EXPECT_EQ(s.variants[1].control_label, "rand.control");
  EXPECT_EQ(s.variants[2].control, "none");
  // The control is the same method with the control ordering, everything else kept.
  EXPECT_EQ(s.variants[2].method->describe(), "rtn int4 g64 sym / int4 g64 sym");
  EXPECT_NE(s.variants[4].method->describe().find("random"), std::string::npos) << s.variants[4].method->describe();
  EXPECT_EQ(s.variants[4].method->weight_format_label(), s.variants[3].method->weight_format_label());
  // The resolved config is the one written: reloading it adds the same controls again.
  EXPECT_EQ(s.resolved_yaml.find(".control"), std::string::npos);
  const ExperimentSpec again = load_experiment(dir.write("again.yaml", s.resolved_yaml), {}, test::builtin());
  EXPECT_EQ(labels_of(again), labels_of(s));
}

TEST(RunnerControls, a_control_label_taken_by_another_variant_is_a_config_error) {
  test::TempDir dir;
  const std::string path = dir.write("dup.yaml", kToy + "variants:\n"
      "  - {label: a, method: {name: rtn, weight_format: int, ordering: random}}\n"
      "  - {label: a.control, method: {name: rtn, weight_format: int}}\n");
  try {
    load_experiment(path, {}, test::builtin());
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("dup.yaml:5:5: error: variant 'a': its control 'a.control' has the label of "
                                         "another variant; rename that one or set 'control: none'"),
              std::string::npos)
        << e.what();
  }
}

TEST(RunnerControls, run_variants_selects_variants_with_their_controls) {
  test::TempDir dir;
  const std::string m = "{name: rtn, weight_format: int, act_format: int";
  const std::string path = dir.write("sel.yaml", kToy + "variants:\n"
      "  - {label: plain, method: " + m + "}}\n"
      "  - {label: rand, method: " + m + ", ordering: random}}\n"
      "  - {label: other, method: " + m + "}}\n");
  const ExperimentSpec s = load_experiment(path, {"run_variants=[rand, other]"}, test::builtin());
  EXPECT_EQ(labels_of(s), (std::vector<std::string>{"rand", "rand.control<rand", "other"}));
  // The selection is part of the resolved config, so the result file reproduces it.
  const ExperimentSpec again = load_experiment(dir.write("again.yaml", s.resolved_yaml), {}, test::builtin());
  EXPECT_EQ(labels_of(again), labels_of(s));
  try {
    load_experiment(path, {"run_variants=[rnd]"}, test::builtin());
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("error: run_variants: no variant labelled 'rnd'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("did you mean 'rand'?"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace pqlab
