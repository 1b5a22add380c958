// class_accuracy: the fraction of generated images that the Fashion-MNIST classifier assigns to
// the class they were asked for (the GenEval analogue of the built-in model). Each image's prompt
// must be one of the classifier's class names ("T-shirt/top", ..., "Ankle boot"); the predicted
// class is the argmax of the logits. Range [0, 1]; the classifier's own accuracy on real test
// images bounds what a perfect generator can reach (stored in its metadata, ~0.93).
// Tests: tests/metrics/class_accuracy_test.cpp
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "framework/core/error.h"
#include "framework/core/excerpt.h"
#include "framework/io/json_limits.h"
#include "framework/registry/registries.h"
#include "metrics/image/classifier_slot.h"

namespace pqlab::metrics {

class ClassAccuracy final : public ConfiguredPlugin<ImageMetric, ClassifierConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override { return "class accuracy (" + cfg_.classifier + ")"; }
  bool higher_is_better() const override { return true; }
  void prepare() override {
    const models::FmnistClassifier& c = load_classifier(cfg_, net_);
    classes_.clear();
    auto it = c.metadata().find("classes");
    if (it == c.metadata().end()) throw RuntimeError("class_accuracy: classifier '" + cfg_.classifier + "' lists no 'classes'");
    const std::string where = "class_accuracy: classifier '" + cfg_.classifier + "': metadata 'classes' ";
    const std::string too_deep = json_depth_error(it->second);  // copies of deep JSON recurse
    if (!too_deep.empty()) throw RuntimeError(where + "is not usable JSON: " + too_deep);
    try {
      for (const auto& n : nlohmann::json::parse(it->second)) classes_.push_back(n.get<std::string>());
    } catch (const nlohmann::json::exception& e) {
      throw RuntimeError(where + "must be a JSON list of strings: " + excerpt(e.what()));
    }
  }
  double compute(const ImageSet& s) const override {
    if (!net_) throw RuntimeError("class_accuracy: compute() before prepare()");
    const int64_t n = s.images.size(0);
    if (static_cast<int64_t>(s.prompts.size()) != n)
      throw RuntimeError("class_accuracy: " + std::to_string(n) + " images but " + std::to_string(s.prompts.size()) +
                         " prompts (the model must be class-conditional)");
    std::vector<int64_t> want;
    for (const auto& p : s.prompts) {
      const auto it = std::find(classes_.begin(), classes_.end(), p);
      if (it == classes_.end())
        throw RuntimeError("class_accuracy: prompt '" + p + "' is not a class of classifier '" + cfg_.classifier + "'");
      want.push_back(it - classes_.begin());
    }
    const at::Tensor pred = net_->evaluate(s.images, cfg_.batch).logits.argmax(1);
    return pred.eq(at::tensor(want, at::kLong)).to(at::kDouble).mean().item<double>();
  }

 private:
  std::shared_ptr<models::FmnistClassifier> net_;
  std::vector<std::string> classes_;
};

}  // namespace pqlab::metrics

PQLAB_PLUGIN(image_metric, class_accuracy, pqlab::metrics::ClassAccuracy,
             "fraction of images the Fashion-MNIST classifier assigns to their prompt's class (higher is better)")
