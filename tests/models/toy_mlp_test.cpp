#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "framework/quant/linear_site.h"
#include "framework/experiment/trajectory.h"
#include "tests/common/plugins.h"

namespace pqlab {
namespace {

std::shared_ptr<ModelAdapter> make(const std::string& extra = "") {
  auto m = test::make_plugin<ModelAdapter>(test::builtin(),
                                           "{adapter: toy_mlp, hidden: 64, blocks: 3, tokens: 8, in_dim: 16" + extra + "}");
  m->load();
  return m;
}

TEST(toy_mlp, sites_have_stable_keys_and_shapes) {
  auto m = make();
  std::vector<std::string> keys;
  for (auto* s : m->linear_sites()) keys.push_back(s->key());
  EXPECT_EQ(keys, (std::vector<std::string>{"embed.in", "block.0.mlp.up", "block.0.mlp.down", "block.1.mlp.up",
                                            "block.1.mlp.down", "block.2.mlp.up", "block.2.mlp.down", "final.out"}));
  EXPECT_EQ(m->linear_sites()[1]->weight().sizes(), (at::IntArrayRef{256, 64}));
  EXPECT_EQ(run_trajectory(*m, m->sample_inputs(3, 1), 0).sizes(), (at::IntArrayRef{3, 8, 16}));
}

TEST(toy_mlp, deterministic_from_seeds) {
  auto a = make(), b = make(), c = make(", weight_seed: 1");
  const at::Tensor u = a->sample_inputs(2, 9);
  EXPECT_TRUE(at::equal(u, b->sample_inputs(2, 9)));
  EXPECT_FALSE(at::equal(u, a->sample_inputs(2, 10)));
  EXPECT_TRUE(at::equal(run_trajectory(*a, u, 0), run_trajectory(*b, u, 0)));
  EXPECT_FALSE(at::equal(run_trajectory(*a, u, 0), run_trajectory(*c, u, 0)));
}

TEST(toy_mlp, outlier_channels_dominate_mlp_inputs) {
  auto m = make(", outlier_channels: 2, outlier_scale: 20.0");
  at::Tensor up_in;
  m->linear_sites()[1]->set_tap([&](const LinearSite&, const at::Tensor& in, const at::Tensor&) { up_in = in; });
  run_trajectory(*m, m->sample_inputs(4, 3), 0);
  const at::Tensor amax = up_in.abs().amax({0, 1});  // per channel
  const at::Tensor sorted = std::get<0>(amax.sort(0, true));
  // The two outlier channels are far above the typical channel: the per-group INT problem.
  EXPECT_GT(sorted[1].item<float>(), 5.0f * amax.median().item<float>());
}

TEST(toy_mlp, bf16_runs_close_to_fp32) {
  auto f = make(), h = make(", dtype: bf16");
  const at::Tensor u = f->sample_inputs(2, 4);
  const at::Tensor yf = run_trajectory(*f, u, 0), yh = run_trajectory(*h, h->sample_inputs(2, 4), 0).to(at::kFloat);
  EXPECT_EQ(h->linear_sites()[0]->weight().scalar_type(), at::kBFloat16);
  const double rel = (yh - yf).pow(2).sum().item<double>() / yf.pow(2).sum().item<double>();
  EXPECT_LT(rel, 1e-3);
  EXPECT_GT(rel, 0.0);
}

TEST(toy_mlp, cuda_request_without_cuda_is_a_runtime_error) {
  if (at::hasCUDA()) GTEST_SKIP() << "CUDA present";
  auto m = test::make_plugin<ModelAdapter>(test::builtin(), "{adapter: toy_mlp, device: cuda}");
  EXPECT_THROW(m->load(), RuntimeError);
}

}  // namespace
}  // namespace pqlab
