// The `flux` model plugin (models/flux.cpp) on the golden tiny FLUX (tests/data/flux_tiny_a)
// with a conditioning file written here: config without loading, sampling through the registry
// as `pqlab run` does it, RTN through the real runner, the permutation sites (existence, shapes,
// and that the foldable kinds really leave the output unchanged), conditioning-file validation,
// and `pqlab sample` end to end.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "framework/core/error.h"
#include "framework/experiment/trajectory.h"
#include "framework/quant/permutation.h"
#include "framework/experiment/experiment_spec.h"
#include "framework/experiment/runner.h"
#include "framework/io/safetensors.h"
#include "framework/interfaces/ordering.h"
#include "framework/quant/linear_site.h"
#include "framework/quant/reorder.h"
#include "models/flux/flux_adapter.h"
#include "models/flux/flux_sampler.h"
#include "tests/common/run_cli.h"
#include "tests/common/plugins.h"
#include "tests/common/temp_dir.h"
#include "tests/models/flux_golden.h"

namespace pqlab {
namespace {

using models::FluxAdapter;
using test::max_abs_diff;

const std::vector<std::string> kPrompts = {"a red cube on a table", "a blue sphere, \"studio\" light"};

double rel_mse(const at::Tensor& ref, const at::Tensor& x) {
  const at::Tensor r = ref.to(at::kDouble), d = x.to(at::kDouble) - r;
  return d.pow(2).sum().item<double>() / r.pow(2).sum().item<double>();
}

class FluxPlugin : public ::testing::Test {
 protected:
  void SetUp() override {
    PQLAB_REQUIRE_FLUX_GOLDEN();
    // The golden model's text geometry: context_in_dim 64, vec_in_dim 32; 8 text tokens.
    auto gen = at::detail::createCPUGenerator(21);
    const auto f32 = at::TensorOptions().dtype(at::kFloat);
    cond_ = tmp_.file("cond.safetensors");
    models::write_flux_conditioning(cond_, at::normal(0.0, 1.0, {2, 8, 64}, gen, f32),
                                    at::normal(0.0, 1.0, {2, 32}, gen, f32), kPrompts);
  }

  // 128 x 128 px -> latent [4, 16, 16] -> 64 tokens of 16 features; two Euler steps.
  std::string yaml(const std::string& extra = "", const std::string& dtype = "fp32", int width = 128, int height = 128) const {
    return "{adapter: flux, checkpoint: '" + test::flux_golden("fp32/weights_bfl.safetensors") + "', conditioning: '" +
           cond_ + "', dtype: " + dtype + ", width: " + std::to_string(width) + ", height: " + std::to_string(height) +
           ", steps: 2" + extra + "}";
  }
  std::shared_ptr<ModelAdapter> make(const std::string& extra = "", const std::string& dtype = "fp32", int width = 128,
                                     int height = 128) const {
    auto m = test::make_plugin<ModelAdapter>(test::builtin(), yaml(extra, dtype, width, height));
    m->load();
    return m;
  }
  static FluxAdapter& flux(ModelAdapter& m) { return dynamic_cast<FluxAdapter&>(m); }

  test::TempDir tmp_;
  std::string cond_;
};

TEST(flux_plugin_config, validate_loads_nothing_and_errors_come_at_load) {
  auto m = test::make_plugin<ModelAdapter>(test::builtin(),
                                           "{adapter: flux, checkpoint: /nonexistent/flux1-dev.safetensors, "
                                           "conditioning: /nonexistent/prompts.safetensors}");
  EXPECT_EQ(m->describe(), "flux 1024x1024, 28 steps, shift auto");
  EXPECT_EQ(m->dtype(), "bf16");
  EXPECT_EQ(m->device(), "cpu");
  EXPECT_TRUE(m->linear_sites().empty());
  EXPECT_THROW(m->sample_inputs(1, 0), RuntimeError);
  EXPECT_THROW(run_trajectory(*m, at::zeros({1, 4096, 64}), 0), RuntimeError);
  try {
    m->load();
    FAIL() << "load() of a missing checkpoint succeeded";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/flux1-dev.safetensors"), std::string::npos) << e.what();
  }
}

TEST(flux_plugin_config, bad_values_are_config_errors) {
  const auto& r = test::builtin();
  EXPECT_THROW(test::make_plugin<ModelAdapter>(r, "{adapter: flux}"), ConfigError);  // checkpoint required
  EXPECT_THROW(test::make_plugin<ModelAdapter>(r, "{adapter: flux, checkpoint: x, width: 1000}"), ConfigError);
  EXPECT_THROW(test::make_plugin<ModelAdapter>(r, "{adapter: flux, checkpoint: x, height: 8}"), ConfigError);
  EXPECT_THROW(test::make_plugin<ModelAdapter>(r, "{adapter: flux, checkpoint: x, shift: maybe}"), ConfigError);
  EXPECT_THROW(test::make_plugin<ModelAdapter>(r, "{adapter: flux, checkpoint: x, steps: 0}"), ConfigError);
  EXPECT_THROW(test::make_plugin<ModelAdapter>(r, "{adapter: flux, checkpoint: x, axes_dim: [8, -2]}"), ConfigError);
  EXPECT_NO_THROW(test::make_plugin<ModelAdapter>(r, "{adapter: flux, checkpoint: x, width: 1360, height: 768}"));
}

// issue 8: a width or height that gives zero or a fractional number of image tokens is a config
// error naming both keys and their values, before anything is loaded.
TEST(flux_plugin_config, issue_8_zero_or_fractional_image_tokens_are_config_errors) {
  const auto& r = test::builtin();
  auto message = [&](const std::string& yaml) -> std::string {
    try {
      test::make_plugin<ModelAdapter>(r, yaml);
    } catch (const ConfigError& e) {
      return e.diagnostics().at(0).message;
    }
    return "";
  };
  EXPECT_EQ(message("{adapter: flux, checkpoint: x, width: 8}"),
            "'width' 8 with 'latent_downsample' 8 gives 0 and a fraction image tokens per row: it must be a positive multiple of 16 "
            "(2 x latent_downsample)");
  EXPECT_EQ(message("{adapter: flux, checkpoint: x, height: 1000}"),
            "'height' 1000 with 'latent_downsample' 8 gives 62 and a fraction image tokens per column: it must be a "
            "positive multiple of 16 (2 x latent_downsample)");
  EXPECT_EQ(message("{adapter: flux, checkpoint: x, width: 64, height: 64, latent_downsample: 64}"),
            "'width' 64 with 'latent_downsample' 64 gives 0 and a fraction image tokens per row: it must be a positive multiple of "
            "128 (2 x latent_downsample)");
  // A config made in code skips the reader; load() refuses it before opening the checkpoint.
  models::FluxConfig c;
  c.checkpoint = "/nonexistent/flux.safetensors";
  c.width = 0;
  FluxAdapter a(c);
  try {
    a.load();
    FAIL() << "load() accepted width 0";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()),
              "flux: 'width' 0 and 'height' 1024 with 'latent_downsample' 8 do not give a whole, positive number of "
              "image tokens: both must be positive multiples of 2 x latent_downsample");
  }
}

TEST(flux_plugin_config, the_real_flux_experiment_validates) {
  const std::string exp = std::string(PQLAB_TEST_DATA_DIR) + "/../../experiments/flux_w4a4.yaml";
  const ExperimentSpec spec = load_experiment(exp, {}, test::builtin());
  EXPECT_EQ(spec.model.name, "flux");
  ASSERT_EQ(spec.variants.size(), 4u);  // two PermuQuant variants, each followed by its control
  EXPECT_EQ(spec.variants[1].label, "pq_int_g64.control");
  EXPECT_EQ(spec.variants[3].control_of, "pq_nvfp4");
}

TEST_F(FluxPlugin, geometry_schedule_and_inputs) {
  auto m = make();
  FluxAdapter& f = flux(*m);
  EXPECT_EQ(f.latent_channels(), 4);
  EXPECT_EQ(f.latent_height(), 16);
  EXPECT_EQ(f.latent_width(), 16);
  EXPECT_EQ(f.image_seq_len(), 64);
  EXPECT_TRUE(f.shift_enabled());  // the golden model has a guidance embedding (dev-style)
  EXPECT_EQ(f.timesteps(), models::flux_schedule(2, 64, true));
  EXPECT_EQ(f.conditioning().prompts, kPrompts);
  EXPECT_EQ(m->describe(), "flux 128x128, 2 steps, guidance 3.5, shift on; " + f.params().describe());
  const at::Tensor x = m->sample_inputs(3, 5);
  EXPECT_EQ(x.sizes(), (at::IntArrayRef{3, 64, 16}));
  EXPECT_EQ(x.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(x, models::flux_pack_latents(models::flux_noise(3, 4, 16, 16, 5))));
  EXPECT_TRUE(at::equal(x, m->sample_inputs(3, 5)));

  auto off = make(", shift: off", "fp32", 64, 96);
  EXPECT_EQ(flux(*off).timesteps(), (std::vector<float>{1.0f, 0.5f, 0.0f}));
  EXPECT_EQ(off->sample_inputs(1, 0).sizes(), (at::IntArrayRef{1, 24, 16}));
  EXPECT_EQ(run_trajectory(*m, m->sample_inputs(1, 0), 0).sizes(), (at::IntArrayRef{1, 64, 16}));
  EXPECT_EQ(run_trajectory(*off, off->sample_inputs(1, 0), 0).sizes(), (at::IntArrayRef{1, 24, 16}));
  EXPECT_THROW(run_trajectory(*m, off->sample_inputs(1, 0), 0), RuntimeError);  // other geometry
}

TEST_F(FluxPlugin, sampling_is_deterministic_and_picks_the_prompt_by_sample_index) {
  auto a = make(), b = make();
  const at::Tensor x = a->sample_inputs(2, 9);
  const at::Tensor y = run_trajectory(*a, x, 0);
  EXPECT_EQ(y.sizes(), x.sizes());
  EXPECT_TRUE(at::isfinite(y).all().item<bool>());
  EXPECT_FALSE(at::equal(y, x));
  EXPECT_TRUE(at::equal(y, run_trajectory(*a, x, 0)));
  EXPECT_TRUE(at::equal(y, run_trajectory(*b, x, 0)));
  // Row i is sample first + i: prompt (first + i) % 2.
  const at::Tensor x1 = x.narrow(0, 1, 1);
  EXPECT_LT(max_abs_diff(run_trajectory(*a, x1, 1), y.narrow(0, 1, 1)), 1e-5);
  EXPECT_TRUE(at::equal(run_trajectory(*a, x1, 3), run_trajectory(*a, x1, 1)));
  EXPECT_GT(max_abs_diff(run_trajectory(*a, x1, 0), run_trajectory(*a, x1, 1)), 1e-3);
  // Exactly the sampler on the chosen conditioning rows.
  const FluxAdapter& f = flux(*a);
  EXPECT_TRUE(at::equal(y, models::flux_sample(f.transformer(), f.conditioning().rows({0, 1}), x,
                                               models::flux_img_ids(16, 16), f.timesteps(), 3.5f)));
  EXPECT_EQ(f.prompts(1, 3), (std::vector<std::string>{kPrompts[1], kPrompts[0], kPrompts[1]}));
}

TEST_F(FluxPlugin, every_forward_makes_the_same_linear_calls) {
  auto m = make();
  const std::vector<LinearSite*> sites = m->linear_sites();
  ASSERT_FALSE(sites.empty());
  std::vector<std::string> calls;
  for (auto* s : sites)
    s->set_tap([&calls](const LinearSite& site, const at::Tensor&, const at::Tensor&) { calls.push_back(site.key()); });
  const at::Tensor x = m->sample_inputs(2, 1);
  run_trajectory(*m, x.narrow(0, 0, 1), 0);
  const std::vector<std::string> first = calls;
  calls.clear();
  run_trajectory(*m, x.narrow(0, 1, 1), 1);
  for (auto* s : sites) s->set_tap(nullptr);
  EXPECT_EQ(calls, first);
  EXPECT_EQ(first.size(), 2 * sites.size());  // steps x one call per site
}

TEST_F(FluxPlugin, bf16_agrees_roughly_with_fp32) {
  auto f32 = make(), b16 = make("", "bf16");
  const at::Tensor x = f32->sample_inputs(2, 4);
  const at::Tensor xb = b16->sample_inputs(2, 4);
  EXPECT_EQ(xb.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(xb, x.to(at::kBFloat16)));
  const at::Tensor yf = run_trajectory(*f32, x, 0), yb = run_trajectory(*b16, xb, 0);
  EXPECT_EQ(yb.scalar_type(), at::kBFloat16);
  const double e = rel_mse(yf, yb);
  std::printf("bf16 vs fp32 after 2 steps: rel mse %.3g\n", e);
  EXPECT_GT(e, 0.0);
  EXPECT_LT(e, 3e-3);  // measured 4.5e-4 on the CPU (libtorch 1.13); W4A4 RTN gives ~4e-3
}

TEST_F(FluxPlugin, cuda_samples_from_the_same_noise) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  auto cpu = make();
  const at::Tensor x = cpu->sample_inputs(2, 6);
  const at::Tensor y = run_trajectory(*cpu, x, 0);
  for (const char* dtype : {"fp32", "bf16"}) {
    auto gpu = make(", device: cuda", dtype);
    const at::Tensor xg = gpu->sample_inputs(2, 6);
    ASSERT_TRUE(xg.is_cuda());
    EXPECT_TRUE(at::equal(xg.cpu().to(at::kFloat), x.to(xg.scalar_type()).to(at::kFloat))) << dtype;
    const double e = rel_mse(y, run_trajectory(*gpu, xg, 0).cpu());
    std::printf("cuda %s vs cpu fp32 after 2 steps: rel mse %.3g\n", dtype, e);
    EXPECT_LT(e, std::string(dtype) == "fp32" ? 1e-8 : 3e-3) << dtype;
  }
}

TEST_F(FluxPlugin, rtn_through_the_runner_changes_the_output) {
  const std::string exp = tmp_.write("flux_tiny_rtn.yaml",
                                     "seed: 3\nmodel: " + yaml() +
                                         "\ndata: {eval_samples: 2}\nmetrics: [rel_mse, sqnr]\nvariants:\n"
                                         "  - label: w8a8\n"
                                         "    method: {name: rtn, weight_format: {name: int, bits: 8, group_size: 16},"
                                         " act_format: {name: int, bits: 8, group_size: 16}}\n"
                                         "  - label: w4a4\n"
                                         "    method: {name: rtn, weight_format: {name: int, bits: 4, group_size: 16},"
                                         " act_format: {name: int, bits: 4, group_size: 16}}\n");
  ExperimentSpec spec = load_experiment(exp, {}, test::builtin());
  RunOptions opts;
  opts.out_dir = tmp_.file("results");
  const RunSummary s = run_experiment(spec, opts);
  EXPECT_TRUE(is_regular_file(s.result_path));
  ASSERT_EQ(s.variants.size(), 2u);
  std::map<std::string, double> err;
  for (const auto& v : s.variants) {
    EXPECT_GT(v.quantized_layers, 20);
    err[v.label] = v.output_metrics.at(0).second;  // rel_mse
    std::printf("%s: output rel_mse %.3g\n", v.label.c_str(), err[v.label]);
  }
  EXPECT_GT(err["w8a8"], 0.0);
  EXPECT_GT(err["w4a4"], 10 * err["w8a8"]);
  EXPECT_LT(err["w4a4"], 1.0);

  // The same by hand: RTN edits the sites the adapter samples with.
  auto m = make();
  const at::Tensor x = m->sample_inputs(1, 0);
  const at::Tensor y = run_trajectory(*m, x, 0);
  auto rtn = test::make_plugin<Method>(test::builtin(), "{name: rtn, weight_format: {name: int, bits: 4, group_size: 16}}");
  rtn->apply(*m, nullptr);
  const double e = rel_mse(y, run_trajectory(*m, x, 0));
  EXPECT_GT(e, 1e-6);
  EXPECT_LT(e, 1.0);
}

TEST_F(FluxPlugin, permutation_site_keys_exist_and_shapes_fit) {
  auto m = make();
  const FluxAdapter& f = flux(*m);
  std::map<std::string, LinearSite*> sites;
  for (auto* s : m->linear_sites()) sites[s->key()] = s;
  const std::vector<PermutationSite> ps = m->permutation_sites();  // through the ModelAdapter interface
  const models::FluxParams& p = f.params();
  const int64_t H = p.hidden_size, M = p.mlp_hidden(), D = p.head_dim();
  EXPECT_EQ(ps.size(), static_cast<size_t>(7 * p.depth + 2 * p.depth_single_blocks));
  std::map<std::string, int> kinds;
  for (const auto& s : ps) {
    ++kinds[s.kind];
    ASSERT_FALSE(s.producers.empty());
    ASSERT_FALSE(s.consumers.empty());
    for (const auto& k : s.producers) ASSERT_TRUE(sites.count(k)) << k;
    for (const auto& k : s.consumers) ASSERT_TRUE(sites.count(k)) << k;
    const LinearSite& prod = *sites[s.producers[0]];
    const LinearSite& cons = *sites[s.consumers[0]];
    for (const auto& k : s.consumers) EXPECT_EQ(sites[k]->in_features(), cons.in_features()) << k;
    for (const auto& b : s.blocks) {  // every block inside both layers
      EXPECT_LE(b.producer_row + b.size, prod.out_features()) << s.kind;
      EXPECT_LE(b.consumer_col + b.size, cons.in_features()) << s.kind;
    }
    if (s.kind == "norm_mod") {
      EXPECT_EQ(cons.in_features(), H);
      EXPECT_EQ(prod.out_features(), (s.producers[0].rfind("single.", 0) == 0 ? 3 : 6) * H);
      EXPECT_TRUE(s.needs_gather);
      ASSERT_EQ(s.blocks.size(), 2u);  // shift and scale
      EXPECT_EQ(s.blocks[1].producer_row, s.blocks[0].producer_row + H);
    } else if (s.kind == "attn_v_heads") {
      ASSERT_EQ(s.producers.size(), 2u);
      EXPECT_EQ(prod.out_features(), 3 * H);
      EXPECT_EQ(cons.in_features(), H);
      EXPECT_EQ(s.consumers.size(), 2u);
      ASSERT_EQ(s.blocks.size(), 1u);
      EXPECT_EQ(s.blocks[0].group, D);
      EXPECT_EQ(s.blocks[0].producer_row, 2 * H);
    } else if (s.kind == "mlp") {
      EXPECT_EQ(prod.out_features(), M);
      EXPECT_EQ(cons.in_features(), M);
    } else if (s.kind == "single_linear1") {
      EXPECT_EQ(prod.out_features(), 3 * H + M);
      EXPECT_EQ(cons.in_features(), H + M);
      ASSERT_EQ(s.blocks.size(), 2u);
      EXPECT_EQ(s.blocks[0].group, D);
    } else {
      ADD_FAILURE() << "unknown kind " << s.kind;
    }
  }
  EXPECT_EQ(kinds["norm_mod"], 4 * p.depth + p.depth_single_blocks);
  EXPECT_EQ(kinds["attn_v_heads"], p.depth);
  EXPECT_EQ(kinds["mlp"], 2 * p.depth);
  EXPECT_EQ(kinds["single_linear1"], p.depth_single_blocks);
  EXPECT_EQ(ps[0].consumers, (std::vector<std::string>{"double.0.img.attn.qkv"}));
  EXPECT_EQ(ps[0].producers, (std::vector<std::string>{"double.0.img.mod"}));
}

// Absorbs a random allowed permutation at every site (absorb_permutation: weight rows and
// biases, or a gather for the norm sites): in full precision the model output must not change.
TEST_F(FluxPlugin, absorbed_permutations_leave_the_output_unchanged) {
  auto m = make();
  const at::Tensor x = m->sample_inputs(1, 2);
  const at::Tensor y = run_trajectory(*m, x, 0);
  std::map<std::string, LinearSite*> sites;
  for (auto* s : m->linear_sites()) sites[s->key()] = s;
  uint64_t seed = 5;
  int gathers = 0;
  for (const auto& ps : m->permutation_sites()) {
    const int64_t k = sites[ps.consumers[0]]->in_features();
    const at::Tensor p = random_permutation(ps, k, seed++);
    EXPECT_FALSE(at::equal(p, at::arange(k, at::kLong))) << ps.kind;
    absorb_permutation(ps, p, sites);
    gathers += ps.needs_gather;
  }
  EXPECT_GT(gathers, 0);
  const double d = max_abs_diff(run_trajectory(*m, x, 0), y);
  std::printf("max |permuted - original| = %.3g (max |y| %.3g)\n", d, y.abs().max().item<double>());
  EXPECT_LT(d, 1e-4);

  // Controls: the txt-stream qkv left out of the coupling changes the output, and so does a
  // permutation that moves channels across heads.
  auto c = make();
  std::map<std::string, LinearSite*> cs;
  for (auto* s : c->linear_sites()) cs[s->key()] = s;
  PermutationSite v = c->permutation_sites()[2];
  ASSERT_EQ(v.kind, "attn_v_heads");
  const at::Tensor pv = random_permutation(v, cs[v.consumers[0]]->in_features(), 1);
  v.producers.pop_back();
  absorb_permutation(v, pv, cs);
  EXPECT_GT(max_abs_diff(run_trajectory(*c, x, 0), y), 1e-3);
  const PermutationSite heads = m->permutation_sites()[2];
  const int64_t H = flux(*m).params().hidden_size;
  EXPECT_THROW(absorb_permutation(heads, at::arange(H - 1, -1, -1, at::kLong), sites), UsageError);
}

// The same through reorder_sites (the path rtn and permuquant take), one site kind at a time, so
// that no kind can hide behind another: fp32 relative output change below 1e-5 for each.
TEST_F(FluxPlugin, reordering_each_site_kind_leaves_the_output_at_round_off) {
  auto probe = make();
  const at::Tensor x = probe->sample_inputs(1, 2);
  const at::Tensor y = run_trajectory(*probe, x, 0);
  std::map<std::string, std::set<std::string>> consumers_of_kind;
  for (const auto& ps : probe->permutation_sites()) consumers_of_kind[ps.kind].insert(ps.consumers.begin(), ps.consumers.end());
  EXPECT_GE(consumers_of_kind.size(), 4u);
  auto random = test::make_plugin<Ordering>(test::builtin(), "random");
  for (const auto& [kind, consumers] : consumers_of_kind) {
    auto m = make();
    ReorderOptions o;
    o.ordering = random.get();
    o.selects = [&consumers = consumers](const std::string& key) { return consumers.count(key) > 0; };
    const MethodReport r = reorder_sites(*m, nullptr, o);
    ASSERT_FALSE(r.permutations.empty()) << kind;
    const at::Tensor out = run_trajectory(*m, x, 0);
    const double rel = std::sqrt(rel_mse(y, out));
    std::printf("%-16s %zu sites, relative output change %.3g\n", kind.c_str(), r.permutations.size(), rel);
    EXPECT_LT(rel, 1e-5) << kind;
    EXPECT_GT(rel, 0.0) << kind;  // the permutations were really applied (summation order changed)
  }
}

TEST_F(FluxPlugin, conditioning_files_are_validated) {
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  auto load_error = [&](const std::string& file) -> std::string {
    auto m = test::make_plugin<ModelAdapter>(
        test::builtin(), "{adapter: flux, dtype: fp32, checkpoint: '" + test::flux_golden("fp32/weights_bfl.safetensors") +
                             "', conditioning: '" + file + "'}");
    try {
      m->load();
    } catch (const RuntimeError& e) {
      return e.what();
    }
    return "";
  };
  const std::string wrong_ctx = tmp_.file("ctx.safetensors");
  models::write_flux_conditioning(wrong_ctx, at::zeros({2, 8, 48}, f32), at::zeros({2, 32}, f32), {"a", "b"});
  EXPECT_EQ(load_error(wrong_ctx), "FLUX conditioning file '" + wrong_ctx +
                                       "': tensor 'txt' has shape [2, 8, 48], expected [N, L, 64] (the model's "
                                       "context_in_dim, T5-XXL: 4096)");
  const std::string wrong_vec = tmp_.file("vec.safetensors");
  models::write_flux_conditioning(wrong_vec, at::zeros({2, 8, 64}, f32), at::zeros({2, 768}, f32), {"a", "b"});
  EXPECT_NE(load_error(wrong_vec).find("tensor 'y' has shape [2, 768], expected [N, 32]"), std::string::npos);

  const std::string rows = tmp_.file("rows.safetensors");
  write_safetensors(rows, {{"txt", at::zeros({2, 8, 64}, f32)}, {"y", at::zeros({3, 32}, f32)}}, {{"prompts", "[\"a\", \"b\"]"}});
  EXPECT_NE(load_error(rows).find("tensor 'y' has shape [3, 32] but 'txt' has shape [2, 8, 64]"), std::string::npos);
  const std::string nometa = tmp_.file("nometa.safetensors");
  write_safetensors(nometa, {{"txt", at::zeros({2, 8, 64}, f32)}, {"y", at::zeros({2, 32}, f32)}});
  EXPECT_NE(load_error(nometa).find("no metadata entry 'prompts'"), std::string::npos);
  const std::string count = tmp_.file("count.safetensors");
  write_safetensors(count, {{"txt", at::zeros({2, 8, 64}, f32)}, {"y", at::zeros({2, 32}, f32)}}, {{"prompts", "[\"a\"]"}});
  EXPECT_NE(load_error(count).find("lists 1 prompts but 'txt' has shape [2, 8, 64]"), std::string::npos);
  const std::string nottxt = tmp_.file("notxt.safetensors");
  write_safetensors(nottxt, {{"y", at::zeros({2, 32}, f32)}}, {{"prompts", "[\"a\", \"b\"]"}});
  EXPECT_NE(load_error(nottxt).find("'" + nottxt + "': has no tensor 'txt'"), std::string::npos);
  EXPECT_NE(load_error(tmp_.file("missing.safetensors")).find("missing.safetensors"), std::string::npos);

  // No conditioning: loads (the weights are usable), but cannot sample.
  auto m = test::make_plugin<ModelAdapter>(
      test::builtin(), "{adapter: flux, dtype: fp32, width: 128, height: 128, checkpoint: '" +
                           test::flux_golden("fp32/weights_bfl.safetensors") + "'}");
  m->load();
  EXPECT_FALSE(m->linear_sites().empty());
  try {
    run_trajectory(*m, m->sample_inputs(1, 0), 0);
    FAIL() << "sampled without conditioning";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("'conditioning'"), std::string::npos) << e.what();
  }
}

using test::CliResult;
using test::pqlab_cli;

TEST_F(FluxPlugin, sample_command_writes_latents_and_prompts) {
  const std::string exp = tmp_.write("tiny.yaml", "name: tiny\nseed: 0\nmodel: " + yaml() +
                                                      "\ndata: {eval_samples: 1}\nvariants:\n"
                                                      "  - {label: w4, method: {name: rtn, weight_format: nvfp4}}\n");
  const std::string out = tmp_.file("sub/s.safetensors");
  const CliResult r = pqlab_cli("sample " + exp + " --count 3 --out " + out, tmp_);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("wrote " + out + ": 3 samples, output [3, 64, 16]"), std::string::npos) << r.out;
  SafetensorsFile f(out);
  EXPECT_EQ(f.names(), (std::vector<std::string>{"inputs", "latents", "output"}));
  const at::Tensor y = f.get("output");
  ASSERT_EQ(y.sizes(), (at::IntArrayRef{3, 64, 16}));
  EXPECT_TRUE(at::equal(f.get("latents"), models::flux_unpack_latents(y, 16, 16)));
  EXPECT_EQ(f.metadata().at("prompts"), models::flux_prompts_json({kPrompts[0], kPrompts[1], kPrompts[0]}));
  EXPECT_EQ(f.metadata().at("model"), "flux");
  EXPECT_EQ(f.metadata().at("dtype"), "fp32");
  // Sample i is sample i of `pqlab run`'s full-precision pass: held-out seed 0 * 1000003 + 2.
  auto m = make();
  const at::Tensor x = m->sample_inputs(3, 2);
  EXPECT_TRUE(at::equal(f.get("inputs"), x));
  for (int64_t i = 0; i < 3; ++i) EXPECT_LT(max_abs_diff(y.narrow(0, i, 1), run_trajectory(*m, x.narrow(0, i, 1), i)), 1e-5) << i;

  // Defaults: data.eval_samples samples to <output.dir>/<name>_samples.safetensors.
  const CliResult d = pqlab_cli("sample " + exp + " --set output.dir=" + tmp_.file("res"), tmp_);
  ASSERT_EQ(d.rc, 0) << d.err;
  SafetensorsFile g(tmp_.file("res/tiny_samples.safetensors"));
  EXPECT_EQ(g.get("output").size(0), 1);
  EXPECT_TRUE(at::equal(g.get("output"), y.narrow(0, 0, 1)));

  EXPECT_EQ(pqlab_cli("sample " + exp + " --count 0", tmp_).rc, 2);
  EXPECT_EQ(pqlab_cli("sample", tmp_).rc, 2);
}

}  // namespace
}  // namespace pqlab
