// Fashion-MNIST as the built-in models see it. Tests: tests/models/fmnist_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace pqlab::models {

struct FmnistImages {
  at::Tensor images;  ///< float32 [N, 1, 28 + 2 pad, 28 + 2 pad], pixels / 127.5 - 1, border -1
  at::Tensor labels;  ///< int64 [N]
};

/// The train (60000) or test (10000) split of `dir` in [-1, 1], padded with `pad` pixels of -1
/// (the background value) on every side. RuntimeError as load_fashion_mnist when absent.
FmnistImages load_fmnist_padded(const std::string& dir, bool train, int64_t pad);

}  // namespace pqlab::models
