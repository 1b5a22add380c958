// fmnist_cnn: the Fashion-MNIST classifier of the built-in model's image metrics
// (models/fmnist/fmnist_classifier.h; `pqlab train-classifier` writes it), as an image classifier
// plugin: class names and the FD reference moments come from the weights file's metadata.
// Tests: tests/models/fmnist_cnn_test.cpp
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <memory>

#include "framework/core/error.h"
#include "framework/core/excerpt.h"
#include "framework/core/paths.h"
#include "framework/io/json_limits.h"
#include "framework/registry/registries.h"
#include "models/fmnist/fmnist_classifier.h"

namespace pqlab::models {

struct FmnistCnnConfig {
  std::string weights = "models/fmnist/classifier.safetensors";
  int64_t batch = 500;
  template <class IO> static void map(IO& io, FmnistCnnConfig& c) {
    io.field("weights", c.weights,
             "classifier file (pqlab train-classifier); relative paths resolve against the working directory, "
             "then the pqlab source tree");
    io.field("batch", c.batch, "images per classifier forward", config::in_range(1, 1e6));
  }
};

class FmnistCnn final : public ConfiguredPlugin<ImageClassifier, FmnistCnnConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override { return "Fashion-MNIST CNN (" + cfg_.weights + ")"; }

  void load() override {
    if (net_) return;
    auto net = std::make_shared<FmnistClassifier>(FmnistClassifier::load(resolve_data_path(cfg_.weights)));
    const std::string where = "classifier '" + cfg_.weights + "': metadata 'classes' ";
    const auto it = net->metadata().find("classes");
    if (it == net->metadata().end()) throw RuntimeError("classifier '" + cfg_.weights + "' lists no 'classes'");
    const std::string too_deep = json_depth_error(it->second);  // copies of deep JSON recurse
    if (!too_deep.empty()) throw RuntimeError(where + "is not usable JSON: " + too_deep);
    std::vector<std::string> classes;
    try {
      for (const auto& n : nlohmann::json::parse(it->second)) classes.push_back(n.get<std::string>());
    } catch (const nlohmann::json::exception& e) {
      throw RuntimeError(where + "must be a JSON list of strings: " + excerpt(e.what()));
    }
    classes_ = std::move(classes);
    net_ = std::move(net);
  }

  const std::vector<std::string>& classes() const override {
    require_loaded("classes()");
    return classes_;
  }

  Output evaluate(const at::Tensor& images) const override {
    require_loaded("evaluate()");
    const FmnistClassifier::Output o = net_->evaluate(images, cfg_.batch);
    return {o.logits, o.features};
  }

  std::pair<at::Tensor, at::Tensor> reference_moments() const override {
    require_loaded("reference_moments()");
    return {net_->reference_mean(), net_->reference_cov()};
  }

 private:
  void require_loaded(const char* what) const {
    if (!net_) throw RuntimeError(std::string("fmnist_cnn: ") + what + " before load()");
  }
  std::shared_ptr<FmnistClassifier> net_;
  std::vector<std::string> classes_;
};

}  // namespace pqlab::models

PQLAB_PLUGIN(classifier, fmnist_cnn, pqlab::models::FmnistCnn,
             "the Fashion-MNIST CNN of the built-in model's image metrics: classes and penultimate features")
