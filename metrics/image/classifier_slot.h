// The classifier an image metric evaluates generated images with (shared by class_accuracy and
// classifier_fd): a config key naming the file, loaded once by prepare().
#pragma once
#include <memory>
#include <string>

#include "framework/config/config_io.h"
#include "framework/core/paths.h"
#include "models/fmnist/fmnist_classifier.h"

namespace pqlab::metrics {

struct ClassifierConfig {
  std::string classifier = "models/fmnist/classifier.safetensors";
  int64_t batch = 500;
  template <class IO> static void map(IO& io, ClassifierConfig& c) {
    io.field("classifier", c.classifier,
             "Fashion-MNIST classifier (pqlab train-classifier); relative paths resolve against the working "
             "directory, then the pqlab source tree");
    io.field("batch", c.batch, "images per classifier forward", config::in_range(1, 1e6));
  }
};

/// Loads cfg.classifier unless already loaded (on the CPU: the classifier is tiny).
inline const models::FmnistClassifier& load_classifier(const ClassifierConfig& cfg,
                                                       std::shared_ptr<models::FmnistClassifier>& slot) {
  if (!slot) slot = std::make_shared<models::FmnistClassifier>(models::FmnistClassifier::load(resolve_data_path(cfg.classifier)));
  return *slot;
}

}  // namespace pqlab::metrics
