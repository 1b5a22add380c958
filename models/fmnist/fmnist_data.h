// Fashion-MNIST, the data set of the built-in models (the FLUX trained on it and the classifier of
// its image metrics): the Debian package's IDX files, the class names, and the images as the
// models see them. Tests: tests/models/fmnist_data_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <string>

namespace pqlab::models {

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

struct FmnistImages {
  at::Tensor images;  ///< float32 [N, 1, 28 + 2 pad, 28 + 2 pad], pixels / 127.5 - 1, border -1
  at::Tensor labels;  ///< int64 [N]
};

/// The train (60000) or test (10000) split of `dir` in [-1, 1], padded with `pad` pixels of -1
/// (the background value) on every side. RuntimeError as load_fashion_mnist when absent.
FmnistImages load_fmnist_padded(const std::string& dir, bool train, int64_t pad);

}  // namespace pqlab::models
