#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "framework/core/error.h"
#include "framework/experiment/result_paths.h"
#include "framework/experiment/runner.h"
#include "framework/experiment/trajectory.h"
#include "framework/io/hdf5_file.h"
#include "framework/quant/linear_site.h"
#include "tests/common/plugins.h"
#include "tests/common/temp_dir.h"

namespace pqlab {
namespace {

std::shared_ptr<ModelAdapter> toy() {
  auto m = test::make_plugin<ModelAdapter>(test::builtin(), "{adapter: toy_mlp, hidden: 64, blocks: 2, tokens: 8, in_dim: 64}");
  m->load();
  return m;
}

TEST(rtn, symmetric_int4_row_matches_hand_computation) {
  // One row, per-channel group, amax 14 -> s = 2 exactly; W/s = 0.75, -1.25, 0.25, 1.5, 7 ->
  // RNE 1, -1, 0, 2, 7 (ties to even, never half away from zero).
  auto fmt = test::make_plugin<NumberFormat>(test::builtin(), "{name: int, bits: 4, group_size: channel}");
  const at::Tensor w = at::tensor({1.5f, -2.5f, 0.5f, 3.0f, 14.0f}).reshape({1, 5});
  const at::Tensor expected = at::tensor({2.0f, -2.0f, 0.0f, 4.0f, 14.0f}).reshape({1, 5});
  EXPECT_TRUE(at::equal(fmt->fake_quant(w), expected)) << fmt->fake_quant(w);
  // A scale that is not a power of two: s = 4/7 rounds up in fp32, so -2/s = -3.4999998 -> -3
  // (the tie a real-number calculation predicts does not exist in fp32; division, as QuaRot does).
  const at::Tensor w2 = at::tensor({1.0f, -2.0f, 0.5f, 4.0f}).reshape({1, 4});
  const float s = 4.0f / 7.0f;
  const at::Tensor expected2 = at::tensor({std::nearbyint(1.0f / s) * s, std::nearbyint(-2.0f / s) * s,
                                           std::nearbyint(0.5f / s) * s, 7 * s}).reshape({1, 4});
  EXPECT_EQ(std::nearbyint(-2.0f / s), -3.0f);
  EXPECT_TRUE(at::equal(fmt->fake_quant(w2), expected2)) << fmt->fake_quant(w2);
}

TEST(rtn, quantizes_selected_weights_exactly_once_and_attaches_activation_format) {
  auto model = toy();
  std::vector<at::Tensor> w0;
  for (auto* s : model->linear_sites()) w0.push_back(s->weight().clone());
  auto rtn = test::make_plugin<Method>(test::builtin(),
      "{name: rtn, weight_format: {name: int, bits: 4, group_size: 16}, act_format: {name: int, bits: 8, group_size: 16},"
      " skip: [embed.*, final.*]}");
  auto wf = test::make_plugin<NumberFormat>(test::builtin(), "{name: int, bits: 4, group_size: 16}");
  rtn->apply(*model, nullptr);
  const auto sites = model->linear_sites();
  for (size_t i = 0; i < sites.size(); ++i) {
    const bool q = rtn->selects(sites[i]->key());
    EXPECT_EQ(q, sites[i]->key().rfind("block.", 0) == 0) << sites[i]->key();
    if (q) {
      EXPECT_TRUE(at::equal(sites[i]->weight(), wf->fake_quant(w0[i]))) << sites[i]->key();
      EXPECT_FALSE(at::equal(sites[i]->weight(), w0[i]));
      ASSERT_NE(sites[i]->act_format(), nullptr);
    } else {
      EXPECT_TRUE(at::equal(sites[i]->weight(), w0[i]));
      EXPECT_EQ(sites[i]->act_format(), nullptr);
    }
  }
  EXPECT_EQ(rtn->weight_format_label(), "int4 g16 sym");
}

TEST(rtn, linear_site_fake_quantizes_its_input_per_token) {
  auto af = test::make_plugin<NumberFormat>(test::builtin(), "{name: int, bits: 4, group_size: 8}");
  LinearSite site("l", "test", at::randn({6, 16}), at::randn({6}));
  const at::Tensor x = at::randn({2, 3, 16});
  site.set_act_format(af);
  EXPECT_TRUE(at::equal(site.forward(x), at::linear(af->fake_quant(x), site.weight(), site.bias())));
  // Each token is quantized on its own: changing another token leaves this one's output alone.
  at::Tensor x2 = x.clone();
  x2[0][0].mul_(100);
  EXPECT_TRUE(at::equal(site.forward(x2)[1], site.forward(x)[1]));
}

TEST(rtn, fewer_bits_give_larger_output_error) {
  auto err = [](const std::string& spec) {
    auto model = toy();
    const at::Tensor u = model->sample_inputs(2, 5);
    const at::Tensor ref = run_trajectory(*model, u, 0);
    test::make_plugin<Method>(test::builtin(), spec)->apply(*model, nullptr);
    return (run_trajectory(*model, u, 0) - ref).pow(2).sum().item<double>() / ref.pow(2).sum().item<double>();
  };
  const double w8a8 = err("{name: rtn, weight_format: {name: int, bits: 8}, act_format: {name: int, bits: 8}}");
  const double w4a8 = err("{name: rtn, weight_format: {name: int, bits: 4}, act_format: {name: int, bits: 8}}");
  const double w4a4 = err("{name: rtn, weight_format: {name: int, bits: 4}, act_format: {name: int, bits: 4}}");
  EXPECT_GT(w8a8, 0.0);
  EXPECT_LT(w8a8, w4a8);
  EXPECT_LT(w4a8, w4a4);
}

// RTN with a channel ordering, on the built-in Fashion-MNIST FLUX (4 steps) through the runner.
std::string run_fmnist(test::TempDir& dir, const std::string& name, const std::vector<std::string>& orderings) {
  std::string yaml = std::string("include: ") + PQLAB_SOURCE_DIR + "/configs/models/flux_fmnist.yaml\n" +
                     "model: {steps: 4}\ndata: {eval_samples: 2, layer_samples: 2}\ncalibration: {samples: 2}\n"
                     "metrics: [rel_mse]\nvariants:\n";
  for (size_t i = 0; i < orderings.size(); ++i)
    yaml += "  - {label: v" + std::to_string(i) + ", control: none, method: {name: rtn, weight_format: {name: int, bits: 4, group_size: 16}, "
            "act_format: {name: int, bits: 4, group_size: 16}, only: [\"double.*.attn.*\", \"double.*.mlp.*\", "
            "\"single.*.linear1\", \"single.*.linear2\"]" + orderings[i] + "}}\n";
  ExperimentSpec spec = load_experiment(dir.write(name + ".yaml", yaml), {}, test::builtin());
  RunOptions o;
  o.out_dir = dir.file("out");
  return run_experiment(spec, o).result_path;
}

TEST(rtn, orderings_reorder_before_quantizing) {
  namespace rp = result_paths;
  test::TempDir dir;
  H5Reader r(run_fmnist(dir, "orders", {"", ", ordering: identity", ", ordering: random",
                                         ", ordering: {name: joint_second_moment, alpha: 0.5}",
                                         ", ordering: act_second_moment, ordering_bucket: 1"}));
  const auto iso = [&](int v) { return r.read(rp::variant_tf_isolated("v" + std::to_string(v))); };
  const auto lat = [&](int v) { return r.read(rp::variant_fr_latent_rel_mse("v" + std::to_string(v))); };
  // identity is RTN itself, bit for bit.
  EXPECT_TRUE(at::equal(iso(1), iso(0)));
  EXPECT_TRUE(at::equal(lat(1), lat(0)));
  // Every other ordering changes the groups, so the errors, and keeps them finite.
  for (int v = 2; v <= 4; ++v) {
    EXPECT_FALSE(at::equal(iso(v), iso(0))) << v;
    EXPECT_TRUE(at::isfinite(iso(v)).all().item<bool>()) << v;
    EXPECT_TRUE(at::isfinite(lat(v)).all().item<bool>()) << v;
  }
  // Layers that no permutation site reaches are quantized exactly as by plain RTN: the first
  // double block's image qkv reads a norm output (a site), so it changes.
  const auto keys = r.read_strings(rp::kLayerKey);
  for (size_t k = 0; k < keys.size(); ++k)
    if (keys[k] == "double.0.img.attn.qkv") {
      EXPECT_NE(iso(3)[k].sum().item<double>(), iso(0)[k].sum().item<double>());
    }
}

TEST(rtn, an_ordering_that_needs_statistics_needs_calibration) {
  auto with = test::make_plugin<Method>(test::builtin(),
      "{name: rtn, weight_format: int, ordering: joint_second_moment}");
  EXPECT_TRUE(with->needs().statistics);
  EXPECT_NE(with->describe().find("joint_second_moment alpha=0.5 descending"), std::string::npos) << with->describe();
  EXPECT_FALSE(test::make_plugin<Method>(test::builtin(), "{name: rtn, weight_format: int, ordering: random}")->needs().statistics);
  EXPECT_FALSE(test::make_plugin<Method>(test::builtin(), "{name: rtn, weight_format: int}")->needs().statistics);
}

}  // namespace
}  // namespace pqlab
