// class_accuracy: the fraction of generated images that the classifier (default: the built-in
// model's Fashion-MNIST CNN) assigns to the class they were asked for (the GenEval analogue of the
// built-in model). Each image's prompt must be one of the classifier's class names
// ("T-shirt/top", ..., "Ankle boot"); the predicted
// class is the argmax of the logits. Range [0, 1]; the classifier's own accuracy on real test
// images bounds what a perfect generator can reach (stored in its metadata, ~0.93).
// Tests: tests/metrics/class_accuracy_test.cpp
#include <ATen/ATen.h>

#include <algorithm>

#include "framework/core/error.h"
#include "framework/registry/registries.h"
#include "metrics/image/classifier_slot.h"

namespace pqlab::metrics {

class ClassAccuracy final : public ConfiguredPlugin<ImageMetric, ClassifierConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override { return "class accuracy (" + cfg_.classifier->describe() + ")"; }
  bool higher_is_better() const override { return true; }
  void prepare() override {
    cfg_.classifier->load();
    prepared_ = true;
  }
  double compute(const ImageSet& s) const override { return per_sample(s).mean().item<double>(); }
  at::Tensor per_sample(const ImageSet& s) const override {
    if (!prepared_) throw RuntimeError("class_accuracy: compute() before prepare()");
    const std::vector<std::string>& classes = cfg_.classifier->classes();
    const int64_t n = s.images.size(0);
    if (static_cast<int64_t>(s.prompts.size()) != n)
      throw RuntimeError("class_accuracy: " + std::to_string(n) + " images but " + std::to_string(s.prompts.size()) +
                         " prompts (the model must be class-conditional)");
    std::vector<int64_t> want;
    for (const auto& p : s.prompts) {
      const auto it = std::find(classes.begin(), classes.end(), p);
      if (it == classes.end())
        throw RuntimeError("class_accuracy: prompt '" + p + "' is not a class of " + cfg_.classifier->describe());
      want.push_back(it - classes.begin());
    }
    const at::Tensor pred = cfg_.classifier->evaluate(s.images).logits.argmax(1);
    return pred.eq(at::tensor(want, at::kLong)).to(at::kDouble);
  }

 private:
  bool prepared_ = false;
};

}  // namespace pqlab::metrics

PQLAB_PLUGIN(image_metric, class_accuracy, pqlab::metrics::ClassAccuracy,
             "fraction of images the classifier assigns to their prompt's class (higher is better)")
