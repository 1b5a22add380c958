// FLUX sampler pieces (models/flux/flux_sampler.h): the timestep schedule against the formula and
// the numbers of models.md 2.3, latent packing against a hand-made tensor and the golden inputs,
// image ids, seeded noise, and the Euler loop against a step-by-step computation on the golden
// tiny model.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "framework/core/error.h"
#include "models/flux/flux_conditioning.h"
#include "models/flux/flux_sampler.h"
#include "tests/models/flux_golden.h"

namespace pqlab {
namespace {

using models::flux_schedule;

// time_shift(mu, 1, t) written out by hand (models.md 2.3), in double.
double shifted(double mu, double t) { return t == 0 ? 0 : std::exp(mu) / (std::exp(mu) + (1 / t - 1)); }

TEST(flux_schedule, shift_mu_is_the_line_through_256_and_4096) {
  EXPECT_NEAR(models::flux_shift_mu(256), 0.5, 1e-12);
  EXPECT_NEAR(models::flux_shift_mu(4096), 1.15, 1e-12);
  EXPECT_NEAR(models::flux_shift_mu(1024), 0.63, 1e-12);         // 512 x 512
  EXPECT_NEAR(models::flux_shift_mu(4080), 1.1472916667, 1e-9);  // 768 x 1360
}

TEST(flux_schedule, dev_28_steps_at_4096_tokens) {
  const std::vector<float> t = flux_schedule(28, 4096, true);
  ASSERT_EQ(t.size(), 29u);
  EXPECT_EQ(t.front(), 1.0f);
  EXPECT_EQ(t.back(), 0.0f);
  // mu = 1.15: t_k = e^1.15 / (e^1.15 + 1 / (1 - k/28) - 1), e.g. t_1 = e^1.15 / (e^1.15 + 1/27).
  for (int k = 0; k <= 28; ++k) EXPECT_EQ(t[k], static_cast<float>(shifted(1.15, 1.0 - k / 28.0))) << k;
  EXPECT_EQ(t[1], static_cast<float>(3.1581929096897676 / (3.1581929096897676 + 1.0 / 27)));
  // The values models.md 2.3 lists (6 digits).
  const std::vector<std::pair<int, double>> listed = {{1, 0.988409}, {2, 0.976222}, {3, 0.963394}, {4, 0.949873},
                                                      {25, 0.274828}, {26, 0.195455}, {27, 0.104721}};
  for (const auto& [k, v] : listed) EXPECT_NEAR(t[k], v, 1e-6) << k;
  for (int k = 0; k < 28; ++k) EXPECT_GT(t[k], t[k + 1]);
}

TEST(flux_schedule, dev_50_steps_and_other_resolutions) {
  const std::vector<float> t = flux_schedule(50, 4096, true);
  ASSERT_EQ(t.size(), 51u);
  const std::vector<std::pair<int, double>> listed = {{1, 0.99358}, {2, 0.986979}, {3, 0.98019}, {4, 0.973204},
                                                      {47, 0.167767}, {48, 0.116289}, {49, 0.06055}};
  for (const auto& [k, v] : listed) EXPECT_NEAR(t[k], v, 1e-6) << k;
  // 512 x 512 (1024 tokens, mu = 0.63), 4 steps: 1, 0.849235, 0.652489, 0.384945, 0.
  const std::vector<float> s = flux_schedule(4, 1024, true);
  const std::vector<double> want = {1, 0.849234819, 0.652489483, 0.384944737, 0};
  for (size_t k = 0; k < want.size(); ++k) EXPECT_NEAR(s[k], want[k], 1e-7) << k;
}

TEST(flux_schedule, schnell_is_unshifted_linspace) {
  EXPECT_EQ(flux_schedule(4, 4096, false), (std::vector<float>{1.0f, 0.75f, 0.5f, 0.25f, 0.0f}));
  EXPECT_EQ(flux_schedule(1, 4096, false), (std::vector<float>{1.0f, 0.0f}));
  EXPECT_EQ(flux_schedule(1, 4096, true), (std::vector<float>{1.0f, 0.0f}));
  EXPECT_THROW(flux_schedule(0, 4096, true), UsageError);
  EXPECT_THROW(flux_schedule(4, 0, true), UsageError);
}

TEST(flux_packing, exact_token_and_feature_order) {
  // x[0, c, y, x] = 16c + 4y + x; 2x2 patches, token = row * 2 + col, feature = c * 4 + dy * 2 + dx.
  const at::Tensor x = at::arange(32, at::kFloat).reshape({1, 2, 4, 4});
  const at::Tensor p = models::flux_pack_latents(x);
  ASSERT_EQ(p.sizes(), (at::IntArrayRef{1, 4, 8}));
  const at::Tensor want = at::tensor({0, 1, 4, 5, 16, 17, 20, 21,       // token 0: rows 0-1, cols 0-1
                                      2, 3, 6, 7, 18, 19, 22, 23,       // token 1: rows 0-1, cols 2-3
                                      8, 9, 12, 13, 24, 25, 28, 29,     // token 2: rows 2-3, cols 0-1
                                      10, 11, 14, 15, 26, 27, 30, 31},  // token 3: rows 2-3, cols 2-3
                                     at::kFloat)
                             .reshape({1, 4, 8});
  EXPECT_TRUE(at::equal(p, want)) << p;
  EXPECT_TRUE(at::equal(models::flux_unpack_latents(p, 4, 4), x));
}

TEST(flux_packing, round_trip_non_square_and_errors) {
  const at::Tensor x = at::randn({2, 3, 6, 10});
  const at::Tensor p = models::flux_pack_latents(x);
  EXPECT_EQ(p.sizes(), (at::IntArrayRef{2, 15, 12}));
  EXPECT_TRUE(at::equal(models::flux_unpack_latents(p, 6, 10), x));
  // Token (row 1, col 3) = index 1 * 5 + 3, feature (c 2, dy 1, dx 0) = 2 * 4 + 2.
  EXPECT_EQ(p[1][8][10].item<float>(), x[1][2][3][6].item<float>());
  EXPECT_THROW(models::flux_pack_latents(at::zeros({1, 4, 5, 4})), UsageError);
  EXPECT_THROW(models::flux_pack_latents(at::zeros({4, 4, 4})), UsageError);
  EXPECT_THROW(models::flux_unpack_latents(p, 6, 12), UsageError);
  EXPECT_THROW(models::flux_unpack_latents(p, 6, 9), UsageError);
}

TEST(flux_packing, img_ids_are_row_major_zero_row_col) {
  const at::Tensor ids = models::flux_img_ids(4, 6);  // packed grid 2 x 3
  const at::Tensor want = at::tensor({0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 1, 0, 0, 1, 1, 0, 1, 2}, at::kFloat).reshape({6, 3});
  EXPECT_EQ(ids.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(ids, want)) << ids;
}

TEST(flux_packing, matches_the_golden_inputs) {
  PQLAB_REQUIRE_FLUX_GOLDEN();
  SafetensorsFile in(test::flux_golden("fp32/inputs.safetensors"));
  const at::Tensor lat = in.get("latents");  // [2, 4, 16, 16], packed by diffusers' _pack_latents
  EXPECT_TRUE(at::equal(models::flux_pack_latents(lat), in.get("img")));
  EXPECT_TRUE(at::equal(models::flux_unpack_latents(in.get("img"), 16, 16), lat));
  EXPECT_TRUE(at::equal(models::flux_img_ids(16, 16), in.get("img_ids")));
}

TEST(flux_noise, deterministic_from_the_seed_and_independent_of_count) {
  const at::Tensor a = models::flux_noise(3, 4, 8, 6, 7);
  EXPECT_EQ(a.sizes(), (at::IntArrayRef{3, 4, 8, 6}));
  EXPECT_EQ(a.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(a, models::flux_noise(3, 4, 8, 6, 7)));
  EXPECT_FALSE(at::equal(a, models::flux_noise(3, 4, 8, 6, 8)));
  EXPECT_TRUE(at::equal(a.narrow(0, 0, 2), models::flux_noise(2, 4, 8, 6, 7)));
  const at::Tensor big = models::flux_noise(4, 16, 32, 32, 1);
  EXPECT_NEAR(big.mean().item<double>(), 0.0, 0.02);
  EXPECT_NEAR(big.std().item<double>(), 1.0, 0.02);
}

TEST(flux_noise, pinned_values_of_the_cpu_generator) {
  // The same numbers on every device (CPU mt19937 + Box-Muller of at::normal), recorded with
  // libtorch 1.13; they are torch.randn(16, generator=torch.Generator().manual_seed(0)). A change
  // here changes every experiment's inputs.
  const at::Tensor a = models::flux_noise(1, 1, 2, 8, 0).flatten();
  const std::vector<float> want = {-1.12583983f, -1.1523602f,  -0.250578582f, -0.433878809f, 0.848710358f, 0.692009151f,
                                   -0.31601277f, -2.11521935f, 0.322274923f,  -1.26333475f,  0.349983186f, 0.30813393f,
                                   0.119841509f, 1.2376579f,   1.11677718f,   -0.247278154f};
  ASSERT_EQ(a.numel(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(a[i].item<float>(), want[i], 1e-6) << i;
}

// The Euler loop against the same steps written out: x_{k+1} = x_k + (t_{k+1} - t_k) * v(x_k, t_k).
void expect_euler_steps(at::ScalarType dtype) {
  const auto model = models::load_flux_transformer(test::flux_golden("fp32/weights_bfl.safetensors"), dtype, at::kCPU);
  auto gen = at::detail::createCPUGenerator(3);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  models::FluxConditioning cond;
  cond.txt = at::normal(0.0, 1.0, {2, 8, 64}, gen, f32);
  cond.y = at::normal(0.0, 1.0, {2, 32}, gen, f32);
  cond.txt_ids = at::zeros({8, 3}, f32);
  cond.prompts = {"a", "b"};
  const at::Tensor noise = models::flux_pack_latents(models::flux_noise(2, 4, 16, 16, 11));
  const at::Tensor ids = models::flux_img_ids(16, 16);
  const std::vector<float> ts = {1.0f, 0.6f, 0.25f};

  models::FluxInputs in;
  in.txt = cond.txt;
  in.txt_ids = cond.txt_ids;
  in.y = cond.y;
  in.img_ids = ids;
  in.guidance = at::full({2}, 4.0, f32).to(dtype);
  at::Tensor x = noise.to(dtype);
  for (size_t k = 0; k + 1 < ts.size(); ++k) {
    in.img = x;
    in.timesteps = at::full({2}, static_cast<double>(ts[k]), f32).to(dtype);
    const at::Tensor v = model->forward(in);
    x = x + v * (static_cast<double>(ts[k + 1]) - static_cast<double>(ts[k]));
    if (k == 0) {
      const at::Tensor one = models::flux_sample(*model, cond, noise, ids, {ts[0], ts[1]}, 4.0f);
      EXPECT_TRUE(at::equal(one, x)) << "one step";
    }
  }
  const at::Tensor y = models::flux_sample(*model, cond, noise, ids, ts, 4.0f);
  EXPECT_EQ(y.scalar_type(), dtype);
  EXPECT_EQ(y.sizes(), noise.sizes());
  EXPECT_TRUE(at::equal(y, x));
  EXPECT_TRUE(at::equal(y, models::flux_sample(*model, cond, noise, ids, ts, 4.0f)));  // deterministic
  EXPECT_FALSE(at::equal(y, models::flux_sample(*model, cond, noise, ids, ts, 1.0f)));  // guidance is used
  // One conditioning row serves every sample.
  const at::Tensor shared = models::flux_sample(*model, cond.rows({1}), noise, ids, ts, 4.0f);
  EXPECT_LT(test::max_abs_diff(shared.narrow(0, 1, 1),
                               models::flux_sample(*model, cond.rows({1}), noise.narrow(0, 1, 1), ids, ts, 4.0f)),
            dtype == at::kFloat ? 1e-5 : 0.05);
  EXPECT_THROW(models::flux_sample(*model, cond.rows({0, 1, 0}), noise, ids, ts, 4.0f), RuntimeError);
  EXPECT_THROW(models::flux_sample(*model, cond, noise, ids, {1.0f}, 4.0f), UsageError);
}

TEST(flux_sample, euler_steps_match_a_direct_computation_fp32) {
  PQLAB_REQUIRE_FLUX_GOLDEN();
  expect_euler_steps(at::kFloat);
}

TEST(flux_sample, euler_steps_match_a_direct_computation_bf16) {
  PQLAB_REQUIRE_FLUX_GOLDEN();
  expect_euler_steps(at::kBFloat16);
}

}  // namespace
}  // namespace pqlab
