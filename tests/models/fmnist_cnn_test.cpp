// fmnist_cnn, the classifier plugin of the image metrics: it is the shipped FmnistClassifier
// (same logits and features), knows the ten class names and the FD reference moments, names a
// missing file, and is the default classifier of class_accuracy and classifier_fd (a metric
// config without `classifier` builds it; the resolved config names it).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "framework/config/config_writer.h"
#include "framework/core/error.h"
#include "framework/registry/registries.h"
#include "models/fmnist/fmnist_classifier.h"
#include "models/fmnist/fmnist_data.h"
#include "tests/common/error_text.h"
#include "tests/common/plugins.h"

namespace pqlab::models {
namespace {
using test::message_of;

const std::string kWeights = std::string(PQLAB_SOURCE_DIR) + "/models/fmnist/classifier.safetensors";

TEST(fmnist_cnn, is_the_shipped_classifier) {
  auto c = test::make_plugin<ImageClassifier>(test::builtin(), "fmnist_cnn");
  EXPECT_EQ(message_of([&] { c->evaluate(at::zeros({1, 1, 28, 28})); }), "fmnist_cnn: evaluate() before load()");
  c->load();
  ASSERT_EQ(c->classes().size(), kFashionMnistClasses.size());
  for (size_t i = 0; i < kFashionMnistClasses.size(); ++i) EXPECT_EQ(c->classes()[i], kFashionMnistClasses[i]);

  const FmnistClassifier net = FmnistClassifier::load(kWeights);
  at::manual_seed(3);
  const at::Tensor images = at::rand({7, 1, 28, 28});
  const auto got = c->evaluate(images);
  const auto want = net.evaluate(images);
  EXPECT_EQ(got.logits.sizes(), (std::vector<int64_t>{7, 10}));
  EXPECT_EQ(got.features.sizes(), (std::vector<int64_t>{7, 128}));
  EXPECT_TRUE(at::equal(got.logits, want.logits));
  EXPECT_TRUE(at::equal(got.features, want.features));

  const auto [mean, cov] = c->reference_moments();
  EXPECT_TRUE(at::equal(mean, net.reference_mean()));
  EXPECT_TRUE(at::equal(cov, net.reference_cov()));
  EXPECT_EQ(cov.sizes(), (std::vector<int64_t>{128, 128}));
}

TEST(fmnist_cnn, missing_weights_name_the_file) {
  auto c = test::make_plugin<ImageClassifier>(test::builtin(), "{name: fmnist_cnn, weights: no/such/c.safetensors}");
  EXPECT_NE(message_of([&] { c->load(); }).find("no/such/c.safetensors"), std::string::npos);
}

TEST(fmnist_cnn, is_the_default_classifier_of_the_image_metrics) {
  for (const char* metric : {"class_accuracy", "classifier_fd"}) {
    auto m = test::make_plugin<ImageMetric>(test::builtin(), metric);
    config::Node out;
    config::ConfigWriter w(out);
    m->map_config(w);
    EXPECT_EQ(config::to_yaml(out), "classifier:\n  name: fmnist_cnn\n  weights: models/fmnist/classifier.safetensors\n  batch: 500\n")
        << metric;
    EXPECT_NE(m->describe().find("Fashion-MNIST CNN (models/fmnist/classifier.safetensors)"), std::string::npos) << metric;
  }
}

}  // namespace
}  // namespace pqlab::models
