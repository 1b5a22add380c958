// classifier_fd: real test images are close to the stored reference, noise is far, and the value
// is the Frechet distance of the features' moments (the frechet_distance formula).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "framework/core/error.h"
#include "framework/core/paths.h"
#include "framework/registry/registries.h"
#include "framework/stats/frechet.h"
#include "models/fmnist/fmnist_classifier.h"
#include "models/fmnist/fmnist_data.h"
#include "tests/common/plugins.h"

namespace pqlab {
namespace {
using models::default_fashion_mnist_dir;
using models::FashionMnist;
using models::kFashionMnistClasses;
using models::load_fashion_mnist;

std::shared_ptr<ImageMetric> make(const std::string& yaml = "classifier_fd") {
  return test::make_plugin<ImageMetric>(test::builtin(), yaml);
}

TEST(ClassifierFdTest, RealImagesAreCloseNoiseIsFar) {
  if (!path_exists(default_fashion_mnist_dir())) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  auto m = make();
  m->prepare();
  const FashionMnist t = load_fashion_mnist(default_fashion_mnist_dir(), false);
  const at::Tensor real = t.images.narrow(0, 0, 1000).to(at::kFloat).unsqueeze(1) / 255.0;
  const double fd_real = m->compute({real, {}});
  const double fd_noise = m->compute({at::rand({1000, 1, 28, 28}), {}});
  const double fd_blur = m->compute({at::avg_pool2d(real, 3, 1, 1), {}});
  EXPECT_LT(fd_real, 0.1 * fd_blur);
  EXPECT_LT(fd_blur, fd_noise);

  // Same number from the formula on the classifier's features.
  const auto c = models::FmnistClassifier::load(std::string(PQLAB_SOURCE_DIR) + "/models/fmnist/classifier.safetensors");
  const auto [mu, cov] = feature_moments(c.evaluate(real).features);
  EXPECT_NEAR(fd_real, frechet_distance(mu, cov, c.reference_mean(), c.reference_cov()), 1e-9 * fd_real);
}

TEST(ClassifierFdTest, MissingClassifierNamesTheFile) {
  auto m = make("{name: classifier_fd, classifier: {name: fmnist_cnn, weights: no/such/classifier.safetensors}}");
  try {
    m->prepare();
    FAIL() << "expected an error";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("no/such/classifier.safetensors"), std::string::npos) << e.what();
  }
  EXPECT_THROW(m->compute({at::zeros({4, 1, 28, 28}), {}}), RuntimeError);  // not prepared
}

}  // namespace
}  // namespace pqlab
