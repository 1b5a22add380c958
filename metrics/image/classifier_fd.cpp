// classifier_fd: Frechet distance between the Gaussian fit of the generated images' classifier
// features (the penultimate layer, 128 wide) and that of the 10000 real Fashion-MNIST test images
// (the FID analogue of the built-in model; the reference moments are stored in the classifier
// file by `pqlab train-classifier`). Like FID it is biased upward for small sets: compare values
// computed from the same number of images only (the result file records it).
// Tests: tests/metrics/classifier_fd_test.cpp
#include <ATen/ATen.h>

#include "framework/core/error.h"
#include "framework/registry/registries.h"
#include "framework/stats/frechet.h"
#include "metrics/image/classifier_slot.h"

namespace pqlab::metrics {

class ClassifierFd final : public ConfiguredPlugin<ImageMetric, ClassifierConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override {
    return "Frechet distance on features of " + cfg_.classifier->describe() + " vs its real reference set";
  }
  bool higher_is_better() const override { return false; }
  void prepare() override {
    cfg_.classifier->load();
    if (!cfg_.classifier->reference_moments().first.defined())
      throw RuntimeError("classifier_fd: " + cfg_.classifier->describe() +
                         " knows no reference feature statistics (reference.mean / reference.cov)");
    prepared_ = true;
  }
  double compute(const ImageSet& s) const override {
    if (!prepared_) throw RuntimeError("classifier_fd: compute() before prepare()");
    if (s.images.size(0) < 2) throw RuntimeError("classifier_fd: need at least 2 images");
    const auto [mu, cov] = feature_moments(cfg_.classifier->evaluate(s.images).features);
    const auto [ref_mu, ref_cov] = cfg_.classifier->reference_moments();
    return frechet_distance(mu, cov, ref_mu, ref_cov);
  }

 private:
  bool prepared_ = false;
};

}  // namespace pqlab::metrics

PQLAB_PLUGIN(image_metric, classifier_fd, pqlab::metrics::ClassifierFd,
             "Frechet distance of classifier features to the classifier's real reference set (FID analogue; lower is better)")
