// IDX files (the MNIST format) and the Fashion-MNIST data set read from them. A ".gz" file is
// gunzipped transparently (zlib), so the Debian package's files are read as installed.
// Tests: tests/framework/io/idx_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <array>
#include <string>

namespace pqlab {

/// Reads an IDX file of unsigned bytes (type code 0x08): magic 0x00000800 | ndim, then ndim
/// big-endian int32 sizes, then the data. Returns a uint8 tensor of those sizes (e.g. [N, 28, 28]
/// for 0x00000803 images, [N] for 0x00000801 labels). A path ending in ".gz" is gunzipped.
/// Throws RuntimeError naming the file when it is missing, has a bad magic or is short.
at::Tensor read_idx(const std::string& path);

struct FashionMnist {
  at::Tensor images;  ///< uint8 [N, 28, 28]
  at::Tensor labels;  ///< int64 [N], in 0..9
};

/// /usr/share/datasets/fashion-mnist (where Debian's dataset-fashion-mnist installs the files).
std::string default_fashion_mnist_dir();

/// Loads the train (60000) or test (10000) split from `dir`, reading
/// {train,t10k}-{images-idx3,labels-idx1}-ubyte, plain or with ".gz". Throws RuntimeError naming
/// the path (and saying to install dataset-fashion-mnist) when the folder or a file is absent.
FashionMnist load_fashion_mnist(const std::string& dir, bool train);

/// Class names, indexed by label.
inline constexpr std::array<const char*, 10> kFashionMnistClasses = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

}  // namespace pqlab
