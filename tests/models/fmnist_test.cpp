// The built-in Fashion-MNIST models: the shipped checkpoints load and their metadata matches the
// committed configs; the classifier is as accurate as its metadata says and its stored FD
// reference is the test set's; the training programs run from scratch and are deterministic.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "framework/config/typed_config.h"
#include "framework/core/paths.h"
#include "framework/io/safetensors.h"
#include "framework/stats/frechet.h"
#include "models/flux/flux_conditioning.h"
#include "models/flux/flux_transformer.h"
#include "models/fmnist/fmnist_classifier.h"
#include "models/fmnist/fmnist_data.h"
#include "models/fmnist/fmnist_train.h"
#include "tests/common/temp_dir.h"

namespace pqlab::models {
namespace {

const std::string kSrc = PQLAB_SOURCE_DIR;
const std::string kFlux = kSrc + "/models/fmnist/flux_fmnist.safetensors";
const std::string kClassifier = kSrc + "/models/fmnist/classifier.safetensors";

bool have_data() { return path_exists(default_fashion_mnist_dir()); }

template <class T> T parse(const std::string& yaml, const test::TempDir& dir) {
  return config::load_typed_config<T>(dir.write("c.yaml", yaml), {}, "config", nullptr);
}

std::string meta(const SafetensorsReader& r, const std::string& key) {
  auto it = r.metadata().find(key);
  if (it == r.metadata().end()) ADD_FAILURE() << "no metadata '" << key << "'";
  return it == r.metadata().end() ? "" : it->second;
}

TEST(FmnistTest, ShippedFluxMatchesItsTrainingConfig) {
  test::TempDir dir;
  const auto r = open_safetensors(kFlux);
  FluxTrainConfig trained = parse<FluxTrainConfig>(meta(*r, "pqlab.train_config"), dir);
  FluxTrainConfig committed = config::load_typed_config<FluxTrainConfig>(
      kSrc + "/configs/train/fmnist_flux.yaml", {}, "config", nullptr);
  trained.data_dir = committed.data_dir;  // the device's data path is the only difference
  EXPECT_EQ(config::dump_typed_config(trained), config::dump_typed_config(committed));

  FluxKeyFormat format;
  const FluxParams p = infer_flux_params(*r, &format, "", committed.axes_dim);
  EXPECT_EQ(p.describe(), committed.params().describe());
  const auto model = load_flux_transformer(kFlux, at::kFloat, at::kCPU, committed.axes_dim);
  EXPECT_EQ(model->linear_sites().size(), 2u + 2 * 2 + 2 * (2 * 5) + 2 * 3 + 2u);

  // The learned class table is the conditioning; the prompts are the class names.
  const FluxConditioning c = check_flux_conditioning(load_flux_conditioning(*r, kFlux, kBuiltinConditioningPrefix), kFlux, p);
  ASSERT_EQ(c.size(), 10);
  EXPECT_EQ(c.txt.size(1), committed.txt_tokens);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(c.prompts[i], kFashionMnistClasses[i]);

  // Training converged: the held-out loss is where the final training loss is (no overfit),
  // far below the loss of the zero-initialised model (E|noise - x0|^2 ~ 1.6).
  const double heldout = std::stod(meta(*r, "pqlab.heldout_loss"));
  const double final_train = std::stod(meta(*r, "pqlab.final_train_loss"));
  EXPECT_LT(heldout, 0.15);
  EXPECT_NEAR(heldout, final_train, 0.01);
  const auto curve = nlohmann::json::parse(meta(*r, "pqlab.loss_curve"));
  ASSERT_EQ(curve.size(), static_cast<size_t>(committed.steps / committed.log_every));
  EXPECT_NEAR(curve.back().get<double>(), std::stod(meta(*r, "pqlab.final_train_loss")), 1e-6);  // 6 digits
}

TEST(FmnistTest, AdapterFragmentMatchesTheTrainingGeometry) {
  const FluxTrainConfig t =
      config::load_typed_config<FluxTrainConfig>(kSrc + "/configs/train/fmnist_flux.yaml", {}, "config", nullptr);
  config::ErrorList errors;
  const config::Node n = config::load_config_file(kSrc + "/configs/models/flux_fmnist.yaml", {}, errors);
  errors.throw_if_any();
  const config::Node& m = *n.find("model");
  auto scalar = [&](const char* k) { return m.find(k)->scalar; };
  EXPECT_EQ(scalar("width"), std::to_string(28 + 2 * t.pad));
  EXPECT_EQ(scalar("height"), std::to_string(28 + 2 * t.pad));
  EXPECT_EQ(scalar("image_crop"), std::to_string(t.pad));
  EXPECT_EQ(scalar("latent_downsample"), "1");
  const config::Node& axes = *m.find("axes_dim");
  ASSERT_EQ(axes.seq.size(), t.axes_dim.size());
  for (size_t i = 0; i < axes.seq.size(); ++i) EXPECT_EQ(axes.seq[i].scalar, std::to_string(t.axes_dim[i]));
}

TEST(FmnistTest, ShippedClassifierIsAccurateAndItsReferenceIsTheTestSet) {
  if (!have_data()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  test::TempDir dir;
  const FmnistClassifier c = FmnistClassifier::load(kClassifier);
  const ClassifierTrainConfig trained = parse<ClassifierTrainConfig>(c.metadata().at("pqlab.train_config"), dir);
  ClassifierTrainConfig committed = config::load_typed_config<ClassifierTrainConfig>(
      kSrc + "/configs/train/fmnist_classifier.yaml", {}, "config", nullptr);
  committed.data_dir = trained.data_dir;
  EXPECT_EQ(config::dump_typed_config(committed), config::dump_typed_config(const_cast<ClassifierTrainConfig&>(trained)));

  const FashionMnist test = load_fashion_mnist(default_fashion_mnist_dir(), false);
  const FmnistClassifier::Output o = c.evaluate(test.images.to(at::kFloat).unsqueeze(1) / 255.0);
  const double acc = o.logits.argmax(1).eq(test.labels).to(at::kDouble).mean().item<double>();
  EXPECT_GE(acc, 0.90);
  EXPECT_NEAR(acc, std::stod(c.metadata().at("pqlab.test_accuracy")), 2e-4);  // GPU-trained, CPU-evaluated
  const auto [mean, cov] = feature_moments(o.features);
  EXPECT_LT((mean - c.reference_mean()).abs().max().item<double>(), 1e-3 * c.reference_mean().abs().max().item<double>());
  EXPECT_LT((cov - c.reference_cov()).abs().max().item<double>(), 1e-3 * c.reference_cov().abs().max().item<double>());
}

TEST(FmnistTest, FluxTrainingRunsFromScratchAndIsDeterministic) {
  if (!have_data()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  test::TempDir dir;
  const std::string yaml =
      "device: cpu\nhidden_size: 32\nnum_heads: 2\ndepth: 1\ndepth_single_blocks: 1\ntxt_tokens: 2\n"
      "context_in_dim: 8\nvec_in_dim: 8\naxes_dim: [4, 6, 6]\nsteps: 40\nbatch_size: 16\nwarmup_steps: 0\n"
      "log_every: 10\nlr: 0.003\nheldout_images: 32\n";
  const FluxTrainConfig c = parse<FluxTrainConfig>(yaml, dir);
  std::ostringstream log;
  const TrainReport a = train_fmnist_flux(c, yaml, dir.file("a.safetensors"), log);
  const TrainReport b = train_fmnist_flux(c, yaml, dir.file("b.safetensors"), log);
  ASSERT_EQ(a.loss_curve.size(), 4u);
  // The zero-initialised model predicts v = 0 (loss ~ E|noise - x0|^2 ~ 1.6); 40 steps must learn.
  EXPECT_GT(a.loss_curve.front(), 1.2);
  EXPECT_LT(a.loss_curve.back(), 0.8 * a.loss_curve.front());
  EXPECT_EQ(a.loss_curve, b.loss_curve);
  const auto fa = open_safetensors(dir.file("a.safetensors")), fb = open_safetensors(dir.file("b.safetensors"));
  ASSERT_EQ(fa->names(), fb->names());
  for (const auto& name : fa->names()) EXPECT_TRUE(at::equal(fa->get(name), fb->get(name))) << name;
  // The written file is a FLUX checkpoint the adapter code loads, with the class table beside it.
  const auto model = load_flux_transformer(dir.file("a.safetensors"), at::kFloat, at::kCPU, c.axes_dim);
  EXPECT_EQ(model->params().describe(), c.params().describe());
  EXPECT_EQ(load_flux_conditioning(*fa, "a", kBuiltinConditioningPrefix).size(), 10);
  EXPECT_EQ(meta(*fa, "pqlab.train_config"), yaml);
}

TEST(FmnistTest, ClassifierTrainingRunsFromScratch) {
  if (!have_data()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  test::TempDir dir;
  const std::string yaml =
      "device: cpu\nc1: 8\nc2: 8\nfeatures: 16\nepochs: 3\nbatch_size: 64\nlr: 0.003\ntrain_images: 2000\n"
      "test_images: 500\n";
  const ClassifierTrainConfig c = parse<ClassifierTrainConfig>(yaml, dir);
  std::ostringstream log;
  const TrainReport r = train_fmnist_classifier(c, yaml, dir.file("c.safetensors"), log);
  ASSERT_EQ(r.loss_curve.size(), 3u);
  EXPECT_LT(r.loss_curve[2], r.loss_curve[0]);
  const FmnistClassifier net = FmnistClassifier::load(dir.file("c.safetensors"));
  EXPECT_GT(std::stod(net.metadata().at("pqlab.test_accuracy")), 0.3);  // chance is 0.1
  EXPECT_EQ(net.reference_mean().size(0), 16);
}

TEST(FmnistTest, ClassifierRejectsWrongShapes) {
  const FmnistClassifier c = FmnistClassifier::load(kClassifier);
  EXPECT_THROW(c.forward(at::zeros({2, 1, 32, 32})), RuntimeError);
  auto w = c.weights();
  w["fc1.weight"] = at::zeros({3, 3});
  try {
    FmnistClassifier bad(c.shape(), w);
    FAIL() << "expected a shape error";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("'fc1.weight' has shape [3, 3], expected [128, 3136]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace pqlab::models
