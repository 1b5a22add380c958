// run_trajectory: the one loop every model and pass goes through (step-level contract).
#include "framework/experiment/trajectory.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "framework/interfaces/model_adapter.h"

namespace pqlab {
namespace {

// v = c * x + step, so every update is checkable by hand.
class FakeDiffusion final : public ModelAdapter {
 public:
  std::vector<StepContext> calls;
  void map_config(config::ConfigIo&) override {}
  std::string describe() const override { return "fake"; }
  void load() override {}
  std::vector<LinearSite*> linear_sites() override { return {}; }
  at::Tensor sample_inputs(int64_t count, uint64_t) const override { return at::ones({count, 2}, at::kDouble); }
  std::vector<double> schedule() const override { return {1.0, 0.75, 0.25, 0.0}; }
  at::Tensor velocity(const at::Tensor& x, const StepContext& ctx) override {
    calls.push_back(ctx);
    return 2.0 * x + static_cast<double>(ctx.step);
  }
  const UpdateRule& update_rule() const override { return euler_; }
  std::string device() const override { return "cpu"; }
  std::string dtype() const override { return "fp64"; }

 private:
  EulerUpdate euler_;
};

TEST(trajectory, drives_every_step_with_its_context_and_the_euler_update) {
  FakeDiffusion m;
  const at::Tensor x0 = m.sample_inputs(3, 0);
  std::vector<int64_t> before;
  const at::Tensor x = run_trajectory(m, x0, 7, {[&](const StepContext& c) { before.push_back(c.step); }, {}, {}});
  ASSERT_EQ(m.calls.size(), 3u);
  EXPECT_EQ(before, (std::vector<int64_t>{0, 1, 2}));
  for (size_t s = 0; s < 3; ++s) {
    EXPECT_EQ(m.calls[s].step, static_cast<int64_t>(s));
    EXPECT_EQ(m.calls[s].num_steps, 3);
    EXPECT_EQ(m.calls[s].first_sample, 7);
    EXPECT_EQ(m.calls[s].count, 3);
  }
  EXPECT_EQ(m.calls[1].t, 0.75);
  EXPECT_EQ(m.calls[1].t_next, 0.25);
  // By hand: x1 = 1 + (2 - 0) * -0.25 = 0.5; x2 = 0.5 + (1 + 1) * -0.5 = -0.5; x3 = -0.5 + (-1 + 2) * -0.25 = -0.75.
  EXPECT_TRUE(at::equal(x, at::full({3, 2}, -0.75, at::kDouble)));
}

TEST(trajectory, teacher_forcing_replaces_the_input_of_chosen_steps) {
  FakeDiffusion m;
  const at::Tensor forced = at::zeros({1, 2}, at::kDouble);
  std::vector<double> seen;
  TrajectoryHooks hooks;
  hooks.input_at = [&](const StepContext& c) { return c.step == 2 ? forced : at::Tensor(); };
  hooks.after_call = [&](const StepContext&, const at::Tensor& x, const at::Tensor&) {
    seen.push_back(x[0][0].item<double>());
  };
  const at::Tensor x = run_trajectory(m, m.sample_inputs(1, 0), 0, hooks);
  EXPECT_EQ(seen, (std::vector<double>{1.0, 0.5, 0.0}));
  EXPECT_EQ(x[0][0].item<double>(), 0.0 + (0.0 + 2.0) * -0.25);
}

TEST(trajectory, one_step_models_return_their_output) {
  OutputUpdate out;
  StepContext c;
  const at::Tensor v = at::arange(4.0);
  EXPECT_TRUE(at::equal(out.update(at::zeros({4}), v, c), v));
}

}  // namespace
}  // namespace pqlab
