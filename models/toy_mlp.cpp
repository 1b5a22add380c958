// toy_mlp: a small residual MLP stack with DiT-like activation statistics, built from a seed.
// It stands in for a real model until the FLUX adapter and the trained built-in model exist:
// a few hidden channels carry large-magnitude outliers (as post-LayerNorm activations in
// diffusion transformers do), which is exactly what makes low-bit activation quantization hard.
//
//   x  = embed.in(u)                         u: [B, tokens, in_dim]
//   x += block.i.mlp.down(gelu(block.i.mlp.up(rms_norm(x) * gamma_i)))   for each block
//   y  = final.out(rms_norm(x))              y: [B, tokens, in_dim]
// Tests: tests/models/toy_mlp_test.cpp
#include <ATen/ATen.h>

#include <cmath>
#include <memory>

#include "framework/core/error.h"
#include "framework/quant/linear_site.h"
#include "framework/registry/registries.h"

namespace pqlab::models {

struct ToyMlpConfig {
  int64_t in_dim = 64;
  int64_t hidden = 256;
  int64_t mlp_ratio = 4;
  int64_t blocks = 2;
  int64_t tokens = 32;
  int64_t weight_seed = 0;
  int64_t outlier_channels = 4;
  double outlier_scale = 16.0;
  std::string dtype = "fp32";
  std::string device = "cpu";
  template <class IO> static void map(IO& io, ToyMlpConfig& c) {
    io.field("in_dim", c.in_dim, "input/output channels", config::in_range(1, 65536));
    io.field("hidden", c.hidden, "hidden width", config::in_range(1, 65536));
    io.field("mlp_ratio", c.mlp_ratio, "MLP expansion factor", config::in_range(1, 16));
    io.field("blocks", c.blocks, "number of residual MLP blocks", config::in_range(1, 64));
    io.field("tokens", c.tokens, "tokens per input sample", config::in_range(1, 65536));
    io.field("weight_seed", c.weight_seed, "seed of the random weights", config::in_range(0, 9.0e15));
    io.field("outlier_channels", c.outlier_channels, "hidden channels with large activations",
             config::in_range(0, 65536));
    io.field("outlier_scale", c.outlier_scale, "gain of the outlier channels", config::in_range(1, 1e6));
    io.field("dtype", c.dtype, "compute dtype", config::one_of({"fp32", "bf16"}));
    io.field("device", c.device, "device to run on", config::one_of({"cpu", "cuda"}));
    io.check(c.outlier_channels <= c.hidden, "outlier_channels",
             "'outlier_channels' (" + std::to_string(c.outlier_channels) + ") exceeds 'hidden' (" +
                 std::to_string(c.hidden) + ")");
  }
};

class ToyMlp final : public ConfiguredPlugin<ModelAdapter, ToyMlpConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override {
    return "toy_mlp " + std::to_string(cfg_.blocks) + "x" + std::to_string(cfg_.hidden);
  }
  std::string device() const override { return cfg_.device; }
  std::string dtype() const override { return cfg_.dtype; }

  void load() override {
    if (cfg_.device == "cuda" && !at::hasCUDA()) throw RuntimeError("toy_mlp: device 'cuda' requested but CUDA is not available");
    sites_.clear();
    gammas_.clear();
    auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(cfg_.weight_seed));
    const auto f32 = at::TensorOptions().dtype(at::kFloat);
    auto linear = [&](const std::string& key, const std::string& role, int64_t out, int64_t in) {
      const at::Tensor w = at::normal(0.0, 1.0 / std::sqrt(static_cast<double>(in)), {out, in}, gen, f32);
      const at::Tensor b = at::normal(0.0, 0.02, {out}, gen, f32);
      sites_.push_back(std::make_unique<LinearSite>(key, role, to_model(w), to_model(b)));
    };
    linear("embed.in", "embed", cfg_.hidden, cfg_.in_dim);
    const int64_t inner = cfg_.hidden * cfg_.mlp_ratio;
    for (int64_t i = 0; i < cfg_.blocks; ++i) {
      at::Tensor gamma = at::ones({cfg_.hidden}, f32) + at::normal(0.0, 0.1, {cfg_.hidden}, gen, f32);
      // Outlier channels: a fixed random subset per block, as observed in DiT post-norm activations.
      const at::Tensor idx = at::randperm(cfg_.hidden, gen, at::TensorOptions().dtype(at::kLong)).narrow(0, 0, cfg_.outlier_channels);
      gamma.index_fill_(0, idx, cfg_.outlier_scale);
      gammas_.push_back(to_model(gamma));
      const std::string p = "block." + std::to_string(i) + ".mlp.";
      linear(p + "up", "mlp_up", inner, cfg_.hidden);
      linear(p + "down", "mlp_down", cfg_.hidden, inner);
    }
    linear("final.out", "final", cfg_.in_dim, cfg_.hidden);
  }

  std::vector<LinearSite*> linear_sites() override {
    std::vector<LinearSite*> v;
    for (auto& s : sites_) v.push_back(s.get());
    return v;
  }

  at::Tensor sample_inputs(int64_t count, uint64_t seed) const override {
    auto gen = at::detail::createCPUGenerator(seed);
    const at::Tensor x = at::normal(0.0, 1.0, {count, cfg_.tokens, cfg_.in_dim}, gen, at::TensorOptions().dtype(at::kFloat));
    return to_model(x);
  }

  // A plain network is the one-step case of the step-level contract: one call, and the result is
  // its output.
  std::vector<double> schedule() const override { return {1.0, 0.0}; }
  const UpdateRule& update_rule() const override {
    static const OutputUpdate output;
    return output;
  }
  at::Tensor velocity(const at::Tensor& u, const StepContext& /*ctx*/) override {
    if (sites_.empty()) throw RuntimeError("toy_mlp: velocity() before load()");
    at::Tensor x = sites_[0]->forward(u);
    for (int64_t i = 0; i < cfg_.blocks; ++i) {
      const at::Tensor h = sites_[1 + 2 * i]->forward(rms_norm(x) * gammas_[i]);
      x = x + sites_[2 + 2 * i]->forward(at::gelu(h));
    }
    return sites_.back()->forward(rms_norm(x));
  }

 private:
  at::Tensor to_model(const at::Tensor& t) const {
    return t.to(cfg_.device == "cuda" ? at::Device(at::kCUDA) : at::Device(at::kCPU),
                cfg_.dtype == "bf16" ? at::kBFloat16 : at::kFloat);
  }
  static at::Tensor rms_norm(const at::Tensor& x) {
    const at::Tensor xf = x.to(at::kFloat);
    return (xf * at::rsqrt(xf.pow(2).mean(-1, true) + 1e-6)).to(x.scalar_type());
  }
  std::vector<std::unique_ptr<LinearSite>> sites_;
  std::vector<at::Tensor> gammas_;
};

}  // namespace pqlab::models

PQLAB_PLUGIN(model, toy_mlp, pqlab::models::ToyMlp, "seeded residual MLP stack with outlier channels (built-in toy)")
