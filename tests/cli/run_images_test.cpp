// `pqlab run` on the built-in Fashion-MNIST model, shrunk: the image stage (image metrics, paired
// metrics against full precision, PNG grids, images and prompts in the HDF5 file) end to end.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "framework/core/paths.h"
#include "framework/io/hdf5_file.h"
#include "models/fmnist/fmnist_data.h"
#include "tests/common/run_cli.h"

namespace pqlab {
namespace {
using models::default_fashion_mnist_dir;
using models::FashionMnist;
using models::kFashionMnistClasses;
using models::load_fashion_mnist;

const std::string kExperiment = std::string(PQLAB_SOURCE_DIR) + "/experiments/fmnist_w4a4.yaml";

std::map<std::string, std::string> attrs(const H5Reader& r, const std::string& path) {
  std::map<std::string, std::string> m;
  for (const auto& [k, v] : r.attrs(path)) m[k] = v;
  return m;
}

TEST(RunImagesTest, FmnistExperimentWritesImagesMetricsAndGrids) {
  if (!path_exists(default_fashion_mnist_dir())) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  test::TempDir dir;
  const auto r = test::pqlab_cli("run " + kExperiment + " --set data.eval_samples=10 --set data.layer_samples=1 " +
                                     "--set model.steps=3 --out " + dir.path(),
                                 dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* col : {"class_accuracy", "classifier_fd", "psnr", "ssim", "rel_mse", "sqnr"})
    EXPECT_NE(r.out.find(col), std::string::npos) << col << "\n" << r.out;
  EXPECT_NE(r.out.find("\nfp "), std::string::npos) << r.out;

  for (const char* label : {"fp", "w8a8_int", "w4a4_int", "w4a4_nvfp4"}) {
    std::ifstream png(dir.file(std::string("fmnist_w4a4_images/") + label + ".png"), std::ios::binary);
    char sig[8] = {0};
    png.read(sig, 8);
    EXPECT_EQ(std::string(sig + 1, 3), "PNG") << label;
  }

  const H5Reader h5(dir.file("fmnist_w4a4.h5"));
  const at::Tensor fp = h5.read("/reference/images");
  EXPECT_EQ(fp.sizes(), at::IntArrayRef({10, 1, 28, 28}));
  EXPECT_GE(fp.min().item<double>(), 0.0);
  EXPECT_LE(fp.max().item<double>(), 1.0);
  const auto prompts = h5.read_strings("/reference/prompts");
  ASSERT_EQ(prompts.size(), 10u);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(prompts[i], kFashionMnistClasses[i]);
  EXPECT_TRUE(attrs(h5, "/reference").count("class_accuracy"));
  EXPECT_FALSE(attrs(h5, "/reference").count("psnr"));  // full precision against itself: not written

  const auto w8 = attrs(h5, "/variants/w8a8_int/images"), w4 = attrs(h5, "/variants/w4a4_int/images");
  for (const char* k : {"class_accuracy", "classifier_fd", "psnr", "ssim"}) {
    EXPECT_TRUE(w8.count(k)) << k;
    EXPECT_TRUE(w4.count(k)) << k;
  }
  EXPECT_GT(std::stod(w8.at("psnr")), std::stod(w4.at("psnr")) + 10);  // 8-bit is far closer to full precision
  EXPECT_GT(std::stod(w8.at("ssim")), std::stod(w4.at("ssim")));
  // The stored variant images are the ones PSNR was computed from.
  const at::Tensor w8img = h5.read("/variants/w8a8_int/images");
  const double mse = (w8img - fp).pow(2).mean().item<double>();
  EXPECT_NEAR(std::stod(w8.at("psnr")), 10 * std::log10(1.0 / mse), 1e-6);
  EXPECT_EQ(attrs(h5, "/").at("layer_samples"), "1");
}

TEST(RunImagesTest, ImageMetricsOnAModelWithoutImagesIsAConfigError) {
  test::TempDir dir;
  const std::string yaml = dir.write("toy.yaml", "include: " + std::string(PQLAB_SOURCE_DIR) +
                                                     "/configs/models/toy_mlp.yaml\n"
                                                     "variants: [{label: a, method: {name: rtn, weight_format: int}}]\n"
                                                     "images: {metrics: [class_accuracy]}\n");
  const auto r = test::pqlab_cli("run " + yaml + " --out " + dir.path(), dir);
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("the model's outputs are not images"), std::string::npos) << r.err;
  EXPECT_FALSE(path_exists(dir.file("toy.h5")));
}

}  // namespace
}  // namespace pqlab
