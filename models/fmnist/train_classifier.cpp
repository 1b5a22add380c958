// `pqlab train-classifier`: the Fashion-MNIST CNN of fmnist_classifier.h, trained with AdamW and
// cross-entropy (cosine learning-rate decay, optional random horizontal flips, dropout before the
// last layer), then evaluated on the 10000 test images; the test set's feature mean and
// covariance are stored with the weights (the FD reference).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>
#include <torch/optim/adamw.h>
#include <torch/version.h>

#include <chrono>
#include <cmath>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "framework/core/error.h"
#include "framework/core/version.h"
#include "framework/stats/frechet.h"
#include "models/fmnist/fmnist_classifier.h"
#include "models/fmnist/fmnist_data.h"
#include "models/fmnist/fmnist_train.h"
#include "models/fmnist/train_command.h"

namespace pqlab::models {

TrainReport train_fmnist_classifier(const ClassifierTrainConfig& c, const std::string& config_yaml,
                                    const std::string& out, std::ostream& log) {
  if (c.device == "cuda" && !at::hasCUDA())
    throw RuntimeError("train-classifier: device 'cuda' requested but CUDA is not available");
  const at::Device dev = c.device == "cuda" ? at::Device(at::kCUDA) : at::Device(at::kCPU);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string dir = c.data_dir.empty() ? default_fashion_mnist_dir() : c.data_dir;
  FashionMnist train = load_fashion_mnist(dir, true), test = load_fashion_mnist(dir, false);
  train = {train.images.narrow(0, 0, std::min(c.train_images, train.images.size(0))),
           train.labels.narrow(0, 0, std::min(c.train_images, train.labels.size(0)))};
  test = {test.images.narrow(0, 0, std::min(c.test_images, test.images.size(0))),
          test.labels.narrow(0, 0, std::min(c.test_images, test.labels.size(0)))};
  const at::Tensor x_train = (train.images.to(at::kFloat) / 255.0).unsqueeze(1);
  const at::Tensor x_test = (test.images.to(at::kFloat) / 255.0).unsqueeze(1);

  at::Generator gen = at::detail::createCPUGenerator(static_cast<uint64_t>(c.seed));
  FmnistClassifierShape shape{c.c1, c.c2, c.features};
  FmnistClassifier net(shape, FmnistClassifier::init(shape, static_cast<uint64_t>(c.seed)));
  std::vector<at::Tensor> params;
  for (auto& [name, t] : net.weights()) {
    t = t.to(dev).set_requires_grad(true);
    params.push_back(t);
  }
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(c.lr).weight_decay(c.weight_decay));
  const int64_t n = x_train.size(0), per_epoch = std::max<int64_t>(1, n / c.batch_size), total = per_epoch * c.epochs;
  const int64_t batch = std::min(c.batch_size, n);
  TrainReport rep;
  int64_t step = 0;
  for (int64_t e = 0; e < c.epochs; ++e) {
    const at::Tensor perm = at::randperm(n, gen, at::kLong);
    at::Tensor sum = at::zeros({}, at::TensorOptions().device(dev));
    for (int64_t i = 0; i < per_epoch; ++i, ++step) {
      const double lr = c.lr * 0.5 * (1 + std::cos(M_PI * static_cast<double>(step) / static_cast<double>(total)));
      for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
      const at::Tensor idx = perm.narrow(0, i * batch, batch);
      at::Tensor x = x_train.index_select(0, idx);
      if (c.flip) {
        const at::Tensor f = at::empty({batch, 1, 1, 1}, at::kFloat).bernoulli_(0.5, gen);
        x = f * x.flip({3}) + (1 - f) * x;
      }
      const at::Tensor y = train.labels.index_select(0, idx).to(dev);
      const at::Tensor loss = at::cross_entropy_loss(net.forward(x.to(dev), &gen).logits, y);
      opt.zero_grad();
      loss.backward();
      opt.step();
      sum += loss.detach();
    }
    rep.loss_curve.push_back(sum.item<double>() / static_cast<double>(per_epoch));
    log << "epoch " << e + 1 << "  loss " << std::setprecision(5) << rep.loss_curve.back() << "  "
        << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s\n"
        << std::flush;
  }
  const double train_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  for (auto& [name, t] : net.weights()) t = t.detach();
  const FmnistClassifier::Output o = net.evaluate(x_test);
  const double acc = o.logits.argmax(1).eq(test.labels).to(at::kDouble).mean().item<double>();
  const int64_t n_check = std::min<int64_t>(10000, n);
  const double train_acc = net.evaluate(x_train.narrow(0, 0, n_check))
                               .logits.argmax(1)
                               .eq(train.labels.narrow(0, 0, n_check))
                               .to(at::kDouble)
                               .mean()
                               .item<double>();
  auto [mean, cov] = feature_moments(o.features);
  net.set_reference(mean, cov);
  log << "test accuracy " << acc << " (" << x_test.size(0) << " test images; train, first " << n_check << ": "
      << train_acc << ")\n";

  auto& md = rep.metadata;
  std::ostringstream a;
  a << std::setprecision(6) << acc;
  md["pqlab.kind"] = "fmnist_classifier";
  md["pqlab.train_config"] = config_yaml;
  md["pqlab.test_accuracy"] = a.str();
  md["pqlab.final_train_loss"] = std::to_string(rep.loss_curve.back());
  md["pqlab.loss_curve"] = nlohmann::json(rep.loss_curve).dump();
  md["pqlab.reference"] = "reference.mean / reference.cov: features of the first " + std::to_string(x_test.size(0)) +
                          " Fashion-MNIST test images (t10k)";
  md["pqlab.train_seconds"] = std::to_string(train_secs);
  md["pqlab.version"] = version();
  md["pqlab.git_commit"] = git_commit();
  md["pqlab.device"] = c.device;
  md["pqlab.torch_version"] = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
                              std::to_string(TORCH_VERSION_PATCH);
  net.save(out, md);
  log << "wrote " << out << "\n";
  return rep;
}

namespace {
struct TrainClassifierProgram {
  static constexpr const char* kCommand = "train-classifier";
  static void train(const ClassifierTrainConfig& c, const std::string& yaml, const std::string& out, std::ostream& log) {
    train_fmnist_classifier(c, yaml, out, log);
  }
};
using TrainClassifierCommand = TrainCommand<ClassifierTrainConfig, TrainClassifierProgram>;
}  // namespace

}  // namespace pqlab::models

PQLAB_PLUGIN(command, train_classifier, pqlab::models::TrainClassifierCommand, "train the Fashion-MNIST classifier of the image metrics (configs/train/fmnist_classifier.yaml)")
