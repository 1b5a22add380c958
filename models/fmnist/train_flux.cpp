// `pqlab train-flux`: rectified-flow training of the tiny FLUX on Fashion-MNIST (fmnist_train.h).
//   x0 = image in [-1, 1], padded with -1 to 32x32, packed 2x2 -> [B, 256, 4]
//   t ~ sigmoid(N(logit_mean, logit_std^2)), noise ~ N(0, I)
//   x_t = (1 - t) x0 + t noise, target v = noise - x0   (the sampler integrates dx/dt = v from 1 to 0)
//   loss = mean((model(x_t, t, class) - v)^2)
// AdamW (libtorch), linear warm-up then cosine decay, global-norm clipping, and an exponential
// moving average of the weights (written by hand: libtorch's C++ API has no weight-EMA helper).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>
#include <torch/types.h>  // clip_grad.h needs torch::Tensor declared first
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#include <torch/version.h>

#include <chrono>
#include <cmath>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "framework/core/error.h"
#include "framework/core/version.h"
#include "framework/io/safetensors.h"
#include "models/flux/flux_sampler.h"
#include "models/flux/flux_transformer.h"
#include "models/fmnist/fmnist_data.h"
#include "models/fmnist/fmnist_train.h"
#include "models/fmnist/train_command.h"

namespace pqlab::models {

FluxParams FluxTrainConfig::params() const {
  FluxParams p;
  p.in_channels = p.out_channels = 4;
  p.vec_in_dim = vec_in_dim;
  p.context_in_dim = context_in_dim;
  p.hidden_size = hidden_size;
  p.mlp_ratio = mlp_ratio;
  p.num_heads = num_heads;
  p.depth = depth;
  p.depth_single_blocks = depth_single_blocks;
  p.axes_dim = axes_dim;
  p.theta = 10000;
  p.qkv_bias = true;
  p.guidance_embed = false;  // class-conditional, sampled without guidance (schnell-like)
  return p;
}

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// adaLN-zero (DiT): modulation and final projection start at zero, so every block starts as the
// identity and the model as v = 0. Other linears: PyTorch's nn.Linear default; norm scales 1.
std::map<std::string, at::Tensor> init_weights(const FluxParams& p, const FluxTrainConfig& c, at::Generator& gen) {
  std::map<std::string, at::Tensor> w;
  int64_t fan_in = 1;
  for (const auto& [name, shape] : flux_tensor_shapes(p)) {
    const bool zero = name.find("_mod.lin.") != std::string::npos || name.find("modulation.lin.") != std::string::npos ||
                      name.rfind("final_layer.", 0) == 0;
    if (shape.size() == 2) fan_in = shape[1];
    at::Tensor t = at::empty(shape, at::kFloat);
    if (ends_with(name, ".scale")) t.fill_(1.0);
    else if (zero) t.zero_();
    else t.uniform_(-1.0 / std::sqrt(static_cast<double>(fan_in)), 1.0 / std::sqrt(static_cast<double>(fan_in)), gen);
    w[name] = t;
  }
  w["conditioning.txt"] = at::empty({10, c.txt_tokens, c.context_in_dim}, at::kFloat).normal_(0, 1, gen);
  w["conditioning.y"] = at::empty({10, c.vec_in_dim}, at::kFloat).normal_(0, 1, gen);
  return w;
}

struct Batch {
  at::Tensor x_t, target, t, labels;
};

// A seeded generator on `dev`. Batches are drawn where the data lives: on CUDA the host-side
// draws took ~1/3 of a training step. (Reproducible on the same GPU model and libtorch.)
at::Generator device_generator(at::Device dev, uint64_t seed) {
  if (dev.is_cpu()) return at::detail::createCPUGenerator(seed);
  at::Generator g = at::globalContext().defaultGenerator(dev);
  g.set_current_seed(seed);
  return g;
}

// One training batch from `images` [N, 1, 32, 32] ([-1, 1]) and `labels` [N] on the generator's
// device, all draws from gen.
Batch draw(const at::Tensor& images, const at::Tensor& labels, int64_t b, const FluxTrainConfig& c, at::Generator& gen) {
  const auto opt = images.options();
  const at::Tensor idx = at::randint(images.size(0), {b}, gen, opt.dtype(at::kLong));
  const at::Tensor x0 = flux_pack_latents(images.index_select(0, idx));
  const at::Tensor noise = at::empty(x0.sizes(), opt).normal_(0, 1, gen);
  const at::Tensor t = at::sigmoid(at::empty({b}, opt).normal_(c.logit_mean, c.logit_std, gen));
  const at::Tensor tt = t.view({b, 1, 1});
  return {(1 - tt) * x0 + tt * noise, noise - x0, t, labels.index_select(0, idx)};
}

at::Tensor predict(const FluxTransformer& model, const std::map<std::string, at::Tensor>& w, const Batch& b,
                   const at::Tensor& img_ids, const at::Tensor& txt_ids, at::Device dev) {
  FluxInputs in;
  const at::Tensor lab = b.labels.to(dev);
  in.img = b.x_t.to(dev);
  in.img_ids = img_ids;
  in.txt = w.at("conditioning.txt").index_select(0, lab);
  in.txt_ids = txt_ids;
  in.y = w.at("conditioning.y").index_select(0, lab);
  in.timesteps = b.t.to(dev);
  return model.forward(in);
}

std::string fixed(double v, int prec) {
  std::ostringstream os;
  os << std::setprecision(prec) << v;
  return os.str();
}

}  // namespace

TrainReport train_fmnist_flux(const FluxTrainConfig& c, const std::string& config_yaml, const std::string& out,
                              std::ostream& log) {
  if (c.device == "cuda" && !at::hasCUDA()) throw RuntimeError("train-flux: device 'cuda' requested but CUDA is not available");
  const at::Device dev = c.device == "cuda" ? at::Device(at::kCUDA) : at::Device(at::kCPU);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string dir = c.data_dir.empty() ? default_fashion_mnist_dir() : c.data_dir;
  FmnistImages train = load_fmnist_padded(dir, true, c.pad);
  FmnistImages test = load_fmnist_padded(dir, false, c.pad);
  for (FmnistImages* d : {&train, &test}) *d = {d->images.to(dev), d->labels.to(dev)};
  const FluxParams p = c.params();
  const int64_t side = 28 + 2 * c.pad;
  if (side % 2) throw UsageError("train-flux: 28 + 2 * pad must be even for 2x2 packing");

  at::Generator gen = at::detail::createCPUGenerator(static_cast<uint64_t>(c.seed));
  std::map<std::string, at::Tensor> w = init_weights(p, c, gen);
  at::Generator data_gen = device_generator(dev, static_cast<uint64_t>(c.seed) + 2);
  std::vector<at::Tensor> params;
  for (auto& [name, t] : w) {
    t = t.to(dev).set_requires_grad(true);
    params.push_back(t);
  }
  std::map<std::string, at::Tensor> ema;
  for (auto& [name, t] : w) ema[name] = t.detach().clone();

  FluxWeights fw;
  for (const auto& [name, t] : w)
    if (name.rfind("conditioning.", 0) != 0) fw.tensors[name] = t;
  FluxTransformer model(p, fw);
  const at::Tensor img_ids = flux_img_ids(side, side).to(dev);
  const at::Tensor txt_ids = at::zeros({c.txt_tokens, 3}, at::kFloat).to(dev);

  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(c.lr).betas({0.9, 0.99}).weight_decay(c.weight_decay));
  TrainReport rep;
  at::Tensor window = at::zeros({}, at::TensorOptions().device(dev));
  log << "train-flux: " << p.describe() << ", " << params.size() << " tensors, " << c.steps << " steps x "
      << c.batch_size << " on " << c.device << "\n";
  for (int64_t step = 0; step < c.steps; ++step) {
    const double warm = c.warmup_steps > 0 ? std::min(1.0, static_cast<double>(step + 1) / c.warmup_steps) : 1.0;
    const double prog = c.steps > c.warmup_steps
                            ? std::max(0.0, static_cast<double>(step - c.warmup_steps) / (c.steps - c.warmup_steps))
                            : 0.0;
    const double lr = c.lr * warm * (c.min_lr_ratio + (1 - c.min_lr_ratio) * 0.5 * (1 + std::cos(M_PI * prog)));
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);

    const Batch b = draw(train.images, train.labels, c.batch_size, c, data_gen);
    const at::Tensor loss = (predict(model, w, b, img_ids, txt_ids, dev) - b.target.to(dev)).pow(2).mean();
    opt.zero_grad();
    loss.backward();
    if (c.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params, c.grad_clip);
    opt.step();
    {
      c10::NoGradGuard ng;
      // EMA with the usual warm-up (decay grows from 0 toward ema_decay over the first steps).
      const double d = std::min(c.ema_decay, (1.0 + step) / (10.0 + step));
      for (auto& [name, t] : w) ema[name].mul_(d).add_(t.detach(), 1 - d);
      window += loss.detach();
    }
    if ((step + 1) % c.log_every == 0 || step + 1 == c.steps) {
      const int64_t n = (step + 1) % c.log_every == 0 ? c.log_every : (step + 1) % c.log_every;
      const double mean = window.item<double>() / static_cast<double>(n);
      window.zero_();
      rep.loss_curve.push_back(mean);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      log << "step " << step + 1 << "  loss " << fixed(mean, 5) << "  lr " << fixed(lr, 3) << "  " << fixed(secs, 4)
          << " s\n"
          << std::flush;
    }
  }
  const double train_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // Held-out loss of the saved (EMA) weights on fixed test images, noise and timesteps.
  double heldout = 0;
  {
    c10::NoGradGuard ng;
    if (c.ema_decay > 0)
      for (auto& [name, t] : w) t.detach().copy_(ema[name]);
    at::Generator hg = device_generator(dev, static_cast<uint64_t>(c.seed) + 1);
    const int64_t n = std::min<int64_t>(c.heldout_images, test.images.size(0));
    int64_t done = 0;
    while (done < n) {
      const int64_t b = std::min<int64_t>(500, n - done);
      const FmnistImages part{test.images.narrow(0, done, b), test.labels.narrow(0, done, b)};
      Batch hb = draw(part.images, part.labels, b, c, hg);
      heldout += (predict(model, w, hb, img_ids, txt_ids, dev) - hb.target.to(dev)).pow(2).mean().item<double>() * b;
      done += b;
    }
    heldout /= static_cast<double>(n);
  }
  log << "held-out loss (" << (c.ema_decay > 0 ? "EMA weights, " : "") << c.heldout_images
      << " test images): " << fixed(heldout, 5) << "\n";

  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& [name, t] : w) tensors.emplace_back(name, t.detach().to(at::kCPU).contiguous());
  std::vector<std::string> classes(kFashionMnistClasses.begin(), kFashionMnistClasses.end());
  auto& md = rep.metadata;
  md["prompts"] = nlohmann::json(classes).dump();
  md["pqlab.kind"] = "fmnist_flux";
  md["pqlab.train_config"] = config_yaml;
  md["pqlab.final_train_loss"] = fixed(rep.loss_curve.back(), 6);
  md["pqlab.heldout_loss"] = fixed(heldout, 6);
  md["pqlab.loss_curve"] = nlohmann::json(rep.loss_curve).dump();
  md["pqlab.train_seconds"] = fixed(train_secs, 4);
  md["pqlab.version"] = version();
  md["pqlab.git_commit"] = git_commit();
  md["pqlab.device"] = c.device;
  md["pqlab.torch_version"] = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
                              std::to_string(TORCH_VERSION_PATCH);
  write_safetensors(out, tensors, md);
  log << "wrote " << out << " (" << train_secs << " s of training)\n";
  return rep;
}

namespace {
struct TrainFluxProgram {
  static constexpr const char* kCommand = "train-flux";
  static void train(const FluxTrainConfig& c, const std::string& yaml, const std::string& out, std::ostream& log) {
    train_fmnist_flux(c, yaml, out, log);
  }
};
using TrainFluxCommand = TrainCommand<FluxTrainConfig, TrainFluxProgram>;
}  // namespace

}  // namespace pqlab::models

PQLAB_PLUGIN(command, train_flux, pqlab::models::TrainFluxCommand, "train the built-in Fashion-MNIST FLUX (configs/train/fmnist_flux.yaml)")
