// Step evaluation on a one-site model: the error formulas, exact zeros for an unchanged model,
// isolated == propagated for a site fed by nothing quantized, free-running latents.
#include "framework/experiment/step_evaluation.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>

#include "framework/interfaces/model_adapter.h"
#include "framework/interfaces/number_format.h"
#include "framework/quant/linear_site.h"
#include "framework/quant/permutation.h"
#include "tests/common/fake_diffusion.h"
#include "tests/common/plugins.h"

namespace pqlab {
namespace {

TEST(step_evaluation, per_sample_errors_follow_their_formulas) {
  const at::Tensor ref = at::tensor({1.0, 2.0, 0.0, 2.0}, at::kDouble).reshape({2, 2});
  const at::Tensor q = at::tensor({1.0, 3.0, 0.0, 1.0}, at::kDouble).reshape({2, 2});
  EXPECT_TRUE(at::allclose(per_sample_rel_mse(q, ref), at::tensor({1.0 / 5.0, 1.0 / 4.0}, at::kDouble)));
  EXPECT_TRUE(at::allclose(per_sample_cosine(q, ref), at::tensor({7.0 / (std::sqrt(10.0) * std::sqrt(5.0)), 1.0}, at::kDouble)));
}

TEST(step_evaluation, teacher_forced_and_free_running_errors) {
  test::OneSiteDiffusion m;
  const std::vector<LinearSite*> sites = m.linear_sites();
  const at::Tensor x0 = m.sample_inputs(3, 5);
  const std::vector<at::Tensor> ref = reference_trajectory(m, x0, 2);
  ASSERT_EQ(ref.size(), 5u);
  EXPECT_TRUE(at::equal(ref[0], x0));
  const std::vector<SiteState> fp = {sites[0]->state()};

  // Unchanged: exact zeros everywhere.
  TeacherForcedErrors same = evaluate_teacher_forced(m, sites, fp, fp, ref, 3, 2, true);
  EXPECT_EQ(same.isolated_err.abs().max().item<double>(), 0.0);
  EXPECT_EQ(same.propagated_err.abs().max().item<double>(), 0.0);
  EXPECT_EQ(same.velocity_rel_mse.abs().max().item<double>(), 0.0);
  EXPECT_GT(same.site_ref.min().item<double>(), 0.0);

  // 4-bit activations: the only site sees the full-precision latent in both passes, so isolated
  // equals propagated, and the velocity is that site's output: its error is the site's error.
  sites[0]->set_act_format(test::make_plugin<NumberFormat>(test::builtin(), "{name: int, bits: 4, group_size: channel}"));
  const std::vector<SiteState> q = {sites[0]->state()};
  int64_t calls = 0;
  TeacherForcedErrors e = evaluate_teacher_forced(m, sites, fp, q, ref, 3, 2, true, [&](const StepContext&) { ++calls; });
  EXPECT_EQ(calls, 2 * 4);  // batches x steps
  EXPECT_TRUE(at::equal(e.isolated_err, e.propagated_err));
  EXPECT_GT(e.isolated_err.min().item<double>(), 0.0);
  const at::Tensor site_rel = (e.isolated_err / e.site_ref);
  EXPECT_GT(site_rel.min().item<double>(), 1e-4);
  EXPECT_LT(site_rel.max().item<double>(), 0.1);
  EXPECT_LT(e.velocity_cosine.max().item<double>(), 1.0);
  TeacherForcedErrors no_prop = evaluate_teacher_forced(m, sites, fp, q, ref, 3, 2, false);
  EXPECT_TRUE(at::equal(no_prop.isolated_err, e.isolated_err));
  EXPECT_TRUE(at::isnan(no_prop.propagated_err).all().item<bool>());

  // Free-running: the variant's own trajectories, batch by batch as a plain run computes them.
  sites[0]->set_state(q[0]);
  const FreeRunning fr = evaluate_free_running(m, ref, 2);
  EXPECT_EQ(fr.latent_rel_mse.sizes(), (at::IntArrayRef{3, 4}));
  EXPECT_GT(fr.latent_rel_mse.min().item<double>(), 0.0);
  EXPECT_TRUE(at::equal(fr.result.narrow(0, 0, 2), run_trajectory(m, x0.narrow(0, 0, 2), 0)));
  EXPECT_TRUE(at::equal(fr.result.narrow(0, 2, 1), run_trajectory(m, x0.narrow(0, 2, 1), 2)));
}

TEST(step_evaluation, absorbed_permutations_leave_layer_errors_at_round_off) {
  // The built-in FLUX (fp32) with a random permutation absorbed at every site it declares and no
  // quantization: the variant computes the same function, so every layer's isolated and
  // propagated error must be round-off, although producers now emit permuted rows and consumers
  // read permuted columns (the errors compare in the variant's channel order).
  auto m = test::make_plugin<ModelAdapter>(test::builtin(),
      "{adapter: flux, checkpoint: models/fmnist/flux_fmnist.safetensors, dtype: fp32, device: cpu, axes_dim: [8, 12, 12], "
      "width: 32, height: 32, latent_downsample: 1, image_crop: 2, steps: 3, shift: off}");
  m->load();
  const std::vector<LinearSite*> sites = m->linear_sites();
  std::vector<SiteState> fp;
  std::map<std::string, LinearSite*> by_key;
  for (LinearSite* s : sites) {
    fp.push_back(s->state());
    by_key[s->key()] = s;
  }
  const std::vector<PermutationSite> psites = m->permutation_sites();
  ASSERT_FALSE(psites.empty());
  for (size_t i = 0; i < psites.size(); ++i) {
    const int64_t k = by_key.at(psites[i].consumers[0])->in_features();
    absorb_permutation(psites[i], random_permutation(psites[i], k, 100 + i), by_key);
  }
  std::vector<SiteState> perm;
  int64_t reordered = 0;
  for (LinearSite* s : sites) {
    perm.push_back(s->state());
    reordered += s->state().output_order.defined() || s->state().input_order.defined();
  }
  EXPECT_GT(reordered, 10);
  for (size_t i = 0; i < sites.size(); ++i) sites[i]->set_state(fp[i]);
  const std::vector<at::Tensor> ref = reference_trajectory(*m, m->sample_inputs(2, 3), 2);
  const TeacherForcedErrors e = evaluate_teacher_forced(*m, sites, fp, perm, ref, 2, 2, true);
  EXPECT_LT((e.isolated_err / e.site_ref).max().item<double>(), 1e-10);
  EXPECT_LT((e.propagated_err / e.site_ref).max().item<double>(), 1e-10);
  EXPECT_LT(e.velocity_rel_mse.max().item<double>(), 1e-10);
}

}  // namespace
}  // namespace pqlab
