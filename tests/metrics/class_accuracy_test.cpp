// class_accuracy on real Fashion-MNIST test images with the shipped classifier: their true class
// names score like the classifier's accuracy, wrong names near zero; bad prompts are errors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "framework/config/config_io.h"
#include "framework/core/error.h"
#include "framework/core/paths.h"
#include "framework/registry/registries.h"
#include "models/fmnist/fmnist_data.h"
#include "tests/common/plugins.h"

namespace pqlab {
namespace {
using models::default_fashion_mnist_dir;
using models::FashionMnist;
using models::kFashionMnistClasses;
using models::load_fashion_mnist;

std::shared_ptr<ImageMetric> make(const std::string& yaml = "class_accuracy") {
  return test::make_plugin<ImageMetric>(test::builtin(), yaml);
}

ImageSet real_images(int64_t n, int64_t label_shift) {
  const FashionMnist t = load_fashion_mnist(default_fashion_mnist_dir(), false);
  ImageSet s{t.images.narrow(0, 0, n).to(at::kFloat).unsqueeze(1) / 255.0, {}};
  for (int64_t i = 0; i < n; ++i) s.prompts.push_back(kFashionMnistClasses[(t.labels[i].item<int64_t>() + label_shift) % 10]);
  return s;
}

TEST(ClassAccuracyTest, TrueClassesScoreHighWrongOnesLow) {
  if (!path_exists(default_fashion_mnist_dir())) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  auto m = make();
  m->prepare();
  EXPECT_GE(m->compute(real_images(500, 0)), 0.9);
  EXPECT_LE(m->compute(real_images(500, 1)), 0.1);
  EXPECT_TRUE(m->higher_is_better());
}

TEST(ClassAccuracyTest, CountsExactly) {
  if (!path_exists(default_fashion_mnist_dir())) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  auto m = make();
  m->prepare();
  ImageSet s = real_images(20, 0);
  const double all = m->compute(s);
  // Mislabel 5 images the classifier got right: accuracy drops by exactly 5/20.
  int changed = 0;
  for (size_t i = 0; i < s.prompts.size() && changed < 5; ++i) {
    ImageSet one{s.images.narrow(0, static_cast<int64_t>(i), 1), {s.prompts[i]}};
    if (m->compute(one) == 1.0) {
      s.prompts[i] = s.prompts[i] == kFashionMnistClasses[0] ? kFashionMnistClasses[1] : kFashionMnistClasses[0];
      ++changed;
    }
  }
  ASSERT_EQ(changed, 5);
  EXPECT_DOUBLE_EQ(m->compute(s), all - 5.0 / 20.0);
  // Per image (the paired differences to a control use them): 0 or 1, and their mean is compute().
  const at::Tensor per = m->per_sample(s);
  ASSERT_EQ(per.numel(), 20);
  EXPECT_TRUE((per.eq(0) | per.eq(1)).all().item<bool>());
  EXPECT_DOUBLE_EQ(per.mean().item<double>(), m->compute(s));
  for (int64_t i = 0; i < 20; ++i) {
    ImageSet one{s.images.narrow(0, i, 1), {s.prompts[static_cast<size_t>(i)]}};
    EXPECT_EQ(per[i].item<double>(), m->compute(one)) << i;
  }
}

TEST(ClassAccuracyTest, BadPromptsAreErrors) {
  auto m = make();
  EXPECT_THROW(m->compute({at::zeros({1, 1, 28, 28}), {"Trouser"}}), RuntimeError);  // before prepare()
  m->prepare();
  try {
    m->compute({at::zeros({1, 1, 28, 28}), {"a cat"}});
    FAIL();
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("prompt 'a cat' is not a class"), std::string::npos) << e.what();
  }
  EXPECT_THROW(m->compute({at::zeros({2, 1, 28, 28}), {"Trouser"}}), RuntimeError);
  EXPECT_THROW(m->compute({at::zeros({1, 1, 32, 32}), {"Trouser"}}), RuntimeError);
}

}  // namespace
}  // namespace pqlab
