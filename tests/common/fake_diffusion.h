// A 4-step flow-matching "diffusion" with one linear site, for tests of the step-level machinery
// (calibration, step evaluation) that need real sites and several steps but no real model.
#pragma once
#include <ATen/ATen.h>

#include <memory>

#include "framework/experiment/trajectory.h"
#include "framework/interfaces/model_adapter.h"
#include "framework/quant/linear_site.h"

namespace pqlab::test {

// A 4-step "diffusion" whose velocity is one linear site of (x + step), so every step's site
// input differs. With through_site false the site still sees (x + step) but the velocity is the
// elementwise -(x + step): every step's input is then exact whatever the batch size (a matmul's
// rounding may depend on the batch shape), as batch-invariance tests of statistics need.
class OneSiteDiffusion final : public ModelAdapter {
 public:
  explicit OneSiteDiffusion(bool through_site = true) : through_site_(through_site) {
    auto gen = at::detail::createCPUGenerator(3);
    site_ = std::make_unique<LinearSite>("s", "r", at::normal(0.0, 0.5, {6, 6}, gen, at::kFloat), at::Tensor());
  }
  void map_config(config::ConfigIo&) override {}
  std::string describe() const override { return "one-site"; }
  void load() override {}
  std::vector<LinearSite*> linear_sites() override { return {site_.get()}; }
  at::Tensor sample_inputs(int64_t count, uint64_t seed) const override {
    auto gen = at::detail::createCPUGenerator(seed);
    return at::normal(0.0, 1.0, {count, 5, 6}, gen, at::kFloat);
  }
  std::vector<double> schedule() const override { return {1.0, 0.8, 0.5, 0.2, 0.0}; }
  at::Tensor velocity(const at::Tensor& x, const StepContext& ctx) override {
    const at::Tensor in = x + static_cast<double>(ctx.step);
    const at::Tensor out = site_->forward(in);
    return through_site_ ? out : -in;
  }
  const UpdateRule& update_rule() const override { return euler_; }
  std::string device() const override { return "cpu"; }
  std::string dtype() const override { return "fp32"; }

  std::unique_ptr<LinearSite> site_;

 private:
  bool through_site_;
  EulerUpdate euler_;
};

}  // namespace pqlab::test
