// classifier_fd: Frechet distance between the Gaussian fit of the generated images' classifier
// features (the penultimate layer, 128 wide) and that of the 10000 real Fashion-MNIST test images
// (the FID analogue of the built-in model; the reference moments are stored in the classifier
// file by `pqlab train-classifier`). Like FID it is biased upward for small sets: compare values
// computed from the same number of images only (the result file records it).
// Tests: tests/metrics/classifier_fd_test.cpp
#include <ATen/ATen.h>

#include "framework/core/error.h"
#include "framework/registry/registries.h"
#include "metrics/frechet.h"
#include "metrics/image/classifier_slot.h"

namespace pqlab::metrics {

class ClassifierFd final : public ConfiguredPlugin<ImageMetric, ClassifierConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override { return "Frechet distance on classifier features vs the real test set"; }
  bool higher_is_better() const override { return false; }
  void prepare() override {
    const models::FmnistClassifier& c = load_classifier(cfg_, net_);
    if (!c.reference_mean().defined())
      throw RuntimeError("classifier_fd: classifier '" + cfg_.classifier +
                         "' stores no reference feature statistics (reference.mean / reference.cov)");
  }
  double compute(const ImageSet& s) const override {
    if (!net_) throw RuntimeError("classifier_fd: compute() before prepare()");
    if (s.images.size(0) < 2) throw RuntimeError("classifier_fd: need at least 2 images");
    const auto [mu, cov] = feature_moments(net_->evaluate(s.images, cfg_.batch).features);
    return frechet_distance(mu, cov, net_->reference_mean(), net_->reference_cov());
  }

 private:
  std::shared_ptr<models::FmnistClassifier> net_;
};

}  // namespace pqlab::metrics

PQLAB_PLUGIN(image_metric, classifier_fd, pqlab::metrics::ClassifierFd,
             "Frechet distance of classifier features to the real Fashion-MNIST test set (FID analogue; lower is better)")
