// The classifier an image metric judges generated images with (shared by class_accuracy and
// classifier_fd): a `classifier` plugin named in the metric's config, loaded once by prepare().
// The default is the built-in model's Fashion-MNIST CNN.
#pragma once
#include "framework/registry/registries.h"

namespace pqlab::metrics {

struct ClassifierConfig {
  Plugin<ImageClassifier> classifier{"fmnist_cnn", nullptr};
  template <class IO> static void map(IO& io, ClassifierConfig& c) {
    config::plugin_field(io, "classifier", c.classifier,
                         "the classifier the generated images are judged with (pqlab list classifier)");
  }
};

}  // namespace pqlab::metrics
