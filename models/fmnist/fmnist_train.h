// Training programs of the built-in Fashion-MNIST models, run by `pqlab train-flux` and
// `pqlab train-classifier` (configs in configs/train/). Both are deterministic functions of their
// config: every random draw (init, batches, noise, timesteps, dropout) comes from CPU generators
// seeded from `seed`, so a CPU run repeats bit for bit; on CUDA the kernels' reduction order may
// differ between runs in the last bits.
// Tests: tests/models/fmnist_test.cpp
#pragma once
#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "framework/config/config_io.h"

namespace pqlab::models {

struct FluxParams;

/// The tiny FLUX: rectified flow on 28x28 images padded to 32x32 (pixel space, 1 channel packed
/// 2x2 -> 256 tokens of 4 channels), conditioned on the class through a learned table
/// (conditioning.txt [10, txt_tokens, context_in_dim] -> txt tokens, conditioning.y [10, vec_in_dim]
/// -> pooled vector), so the unchanged FLUX adapter and sampler run it.
struct FluxTrainConfig {
  int64_t seed = 0;
  std::string device = "cuda";
  std::string data_dir;  ///< empty = /usr/share/datasets/fashion-mnist
  // architecture
  int64_t hidden_size = 128, num_heads = 4, depth = 2, depth_single_blocks = 2;
  double mlp_ratio = 4.0;
  int64_t txt_tokens = 8, context_in_dim = 64, vec_in_dim = 64;
  std::vector<int64_t> axes_dim = {8, 12, 12};
  int64_t pad = 2;  ///< 28 + 2 * pad = 32
  // optimisation
  int64_t steps = 20000, batch_size = 256, warmup_steps = 500, log_every = 500;
  double lr = 1e-3, min_lr_ratio = 0.05, weight_decay = 0.0, grad_clip = 1.0, ema_decay = 0.999;
  double logit_mean = 0.0, logit_std = 1.0;  ///< t = sigmoid(N(logit_mean, logit_std^2)), as SD3/FLUX
  int64_t heldout_images = 2000;             ///< test images of the final held-out loss

  template <class IO> static void map(IO& io, FluxTrainConfig& c) {
    io.field("seed", c.seed, "seed of init, batches, noise and timesteps", config::in_range(0, 9.0e15));
    io.field("device", c.device, "device to train on", config::one_of({"cpu", "cuda"}));
    io.field("data_dir", c.data_dir, "Fashion-MNIST idx files; empty = /usr/share/datasets/fashion-mnist");
    io.field("hidden_size", c.hidden_size, "transformer width", config::in_range(8, 4096));
    io.field("num_heads", c.num_heads, "attention heads", config::in_range(1, 64));
    io.field("depth", c.depth, "double-stream blocks", config::in_range(1, 64));
    io.field("depth_single_blocks", c.depth_single_blocks, "single-stream blocks", config::in_range(0, 64));
    io.field("mlp_ratio", c.mlp_ratio, "MLP expansion", config::in_range(1, 16));
    io.field("txt_tokens", c.txt_tokens, "learned text tokens per class", config::in_range(1, 512));
    io.field("context_in_dim", c.context_in_dim, "width of the class text tokens", config::in_range(1, 4096));
    io.field("vec_in_dim", c.vec_in_dim, "width of the pooled class vector", config::in_range(1, 4096));
    io.field("axes_dim", c.axes_dim, "RoPE dims per id axis (sum = head dim)");
    io.field("pad", c.pad, "border added to the 28x28 images (value -1)", config::in_range(0, 64));
    io.field("steps", c.steps, "optimizer steps", config::in_range(1, 1e9));
    io.field("batch_size", c.batch_size, "images per step", config::in_range(1, 1e6));
    io.field("warmup_steps", c.warmup_steps, "linear learning-rate warm-up", config::in_range(0, 1e9));
    io.field("log_every", c.log_every, "steps per logged mean loss", config::in_range(1, 1e9));
    io.field("lr", c.lr, "peak AdamW learning rate (cosine decay after warm-up)", config::in_range(0, 1));
    io.field("min_lr_ratio", c.min_lr_ratio, "final learning rate / peak", config::in_range(0, 1));
    io.field("weight_decay", c.weight_decay, "AdamW decoupled weight decay", config::in_range(0, 1));
    io.field("grad_clip", c.grad_clip, "global gradient-norm clip (0 = off)", config::in_range(0, 1e9));
    io.field("ema_decay", c.ema_decay, "decay of the weight EMA that is saved (0 = save raw weights)",
             config::in_range(0, 1));
    io.field("logit_mean", c.logit_mean, "mean of the logit-normal timestep density", config::in_range(-10, 10));
    io.field("logit_std", c.logit_std, "std of the logit-normal timestep density", config::in_range(1e-3, 10));
    io.field("heldout_images", c.heldout_images, "test images for the final held-out loss", config::in_range(1, 10000));
    int64_t sum = 0;
    for (int64_t d : c.axes_dim) sum += d;
    io.check(c.hidden_size % c.num_heads == 0 && sum == c.hidden_size / c.num_heads, "axes_dim",
             "'axes_dim' must sum to hidden_size / num_heads = " +
                 std::to_string(c.num_heads ? c.hidden_size / c.num_heads : 0) + ", got " + std::to_string(sum));
  }
  /// The FluxParams this config trains.
  FluxParams params() const;
};

struct ClassifierTrainConfig {
  int64_t seed = 0;
  std::string device = "cuda";
  std::string data_dir;
  int64_t c1 = 32, c2 = 64, features = 128;
  int64_t epochs = 15, batch_size = 128;
  int64_t train_images = 60000, test_images = 10000;  ///< first N of each split (tests use fewer)
  double lr = 1e-3, weight_decay = 1e-4;
  bool flip = true;  ///< random horizontal flips (Fashion-MNIST classes are left-right symmetric)

  template <class IO> static void map(IO& io, ClassifierTrainConfig& c) {
    io.field("seed", c.seed, "seed of init, shuffling, flips and dropout", config::in_range(0, 9.0e15));
    io.field("device", c.device, "device to train on", config::one_of({"cpu", "cuda"}));
    io.field("data_dir", c.data_dir, "Fashion-MNIST idx files; empty = /usr/share/datasets/fashion-mnist");
    io.field("c1", c.c1, "channels of the first conv pair", config::in_range(1, 1024));
    io.field("c2", c.c2, "channels of the second conv pair", config::in_range(1, 1024));
    io.field("features", c.features, "penultimate features (FD is computed on them)", config::in_range(2, 4096));
    io.field("epochs", c.epochs, "passes over the 60000 training images", config::in_range(1, 1000));
    io.field("batch_size", c.batch_size, "images per step", config::in_range(1, 60000));
    io.field("lr", c.lr, "AdamW learning rate (cosine decay to 0)", config::in_range(0, 1));
    io.field("weight_decay", c.weight_decay, "AdamW decoupled weight decay", config::in_range(0, 1));
    io.field("flip", c.flip, "random horizontal flips");
    io.field("train_images", c.train_images, "train on the first N of the 60000 training images",
             config::in_range(1, 60000));
    io.field("test_images", c.test_images,
             "evaluate on (and take the FD reference statistics of) the first N of the 10000 test images",
             config::in_range(2, 10000));
  }
};

/// What a training run reports (and stores in the file's metadata).
struct TrainReport {
  std::map<std::string, std::string> metadata;  ///< everything written to the file's metadata
  std::vector<double> loss_curve;               ///< mean training loss per log_every steps (per epoch: classifier)
};

/// Trains the tiny FLUX and writes `out` (BFL tensor names + conditioning.*; metadata: train_config
/// (the resolved YAML `config_yaml`), prompts (class names), final losses, timing, versions).
TrainReport train_fmnist_flux(const FluxTrainConfig& c, const std::string& config_yaml, const std::string& out,
                              std::ostream& log);

/// Trains the classifier, measures test accuracy, stores the test set's feature moments, writes `out`.
TrainReport train_fmnist_classifier(const ClassifierTrainConfig& c, const std::string& config_yaml,
                                    const std::string& out, std::ostream& log);

}  // namespace pqlab::models
