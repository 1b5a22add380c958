// IDX files (the MNIST format; Fashion-MNIST is read through them in models/fmnist/fmnist_data.h). A ".gz" file is
// gunzipped transparently (zlib), so the Debian package's files are read as installed.
// Tests: tests/framework/io/idx_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

namespace pqlab {

/// Reads an IDX file of unsigned bytes (type code 0x08): magic 0x00000800 | ndim, then ndim
/// big-endian int32 sizes, then the data. Returns a uint8 tensor of those sizes (e.g. [N, 28, 28]
/// for 0x00000803 images, [N] for 0x00000801 labels). A path ending in ".gz" is gunzipped.
/// Throws RuntimeError naming the file when it is missing, has a bad magic or is short.
at::Tensor read_idx(const std::string& path);

}  // namespace pqlab
