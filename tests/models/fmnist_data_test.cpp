// Fashion-MNIST read from IDX folders: a small synthetic folder, the missing-folder message, and
// the Debian package's test split.
#include "models/fmnist/fmnist_data.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "framework/core/error.h"
#include "framework/core/paths.h"
#include "tests/common/error_text.h"
#include "tests/common/idx_files.h"
#include "tests/common/temp_dir.h"

namespace pqlab::models {
namespace {
using namespace test;

TEST(fmnist_data, from_a_small_folder_and_missing_folder_message) {
  TempDir dir;
  write_gz(dir.file("t10k-images-idx3-ubyte.gz"), idx_bytes({3, 28, 28}, counting(3 * 28 * 28)));
  write_plain(dir.file("t10k-labels-idx1-ubyte"), idx_bytes({3}, std::string("\x07\x00\x09", 3)));
  const FashionMnist d = load_fashion_mnist(dir.path(), /*train=*/false);
  EXPECT_EQ(d.images.sizes(), (std::vector<int64_t>{3, 28, 28}));
  EXPECT_EQ(d.labels.scalar_type(), at::kLong);
  EXPECT_TRUE(d.labels.equal(at::tensor({7, 0, 9}, at::kLong)));

  const std::string train_missing = message_of([&] { load_fashion_mnist(dir.path(), /*train=*/true); });
  EXPECT_NE(train_missing.find(dir.file("train-images-idx3-ubyte")), std::string::npos) << train_missing;
  EXPECT_NE(train_missing.find("install the Debian package dataset-fashion-mnist"), std::string::npos);

  const std::string absent = dir.file("no_such_dir");
  const std::string msg = message_of([&] { load_fashion_mnist(absent, false); });
  EXPECT_NE(msg.find("'" + absent + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("install the Debian package dataset-fashion-mnist"), std::string::npos) << msg;
}

TEST(fmnist_data, real_test_split) {
  if (!path_exists(default_fashion_mnist_dir())) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const FashionMnist d = load_fashion_mnist(default_fashion_mnist_dir(), /*train=*/false);
  EXPECT_EQ(d.images.sizes(), (std::vector<int64_t>{10000, 28, 28}));
  EXPECT_EQ(d.images.scalar_type(), at::kByte);
  EXPECT_EQ(d.labels.sizes(), (std::vector<int64_t>{10000}));
  EXPECT_EQ(d.labels.min().item<int64_t>(), 0);
  EXPECT_EQ(d.labels.max().item<int64_t>(), 9);
  EXPECT_TRUE(at::bincount(d.labels).equal(at::full({10}, 1000, at::kLong)));
  EXPECT_GT(d.images.to(at::kFloat).mean().item<double>(), 10.0);  // not all black
  EXPECT_EQ(kFashionMnistClasses.size(), 10u);
  EXPECT_STREQ(kFashionMnistClasses[9], "Ankle boot");
}

}  // namespace
}  // namespace pqlab::models
