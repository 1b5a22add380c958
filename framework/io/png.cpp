#include "framework/io/png.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "framework/core/error.h"
#include "framework/core/partial_files.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC  // internal linkage: no clash with another copy of stb in a linked library
#include <stb_image_write.h>  // a system include directory (see framework/CMakeLists.txt): not warning-clean

namespace pqlab {

void write_png_grid(const std::string& path, const at::Tensor& images, int64_t cols, PixelRange range, int pad) {
  const auto fail = [&](const std::string& why) { throw RuntimeError("PNG '" + path + "': " + why); };
  at::Tensor x = images.detach().to(at::kCPU);
  if (x.dim() == 3) x = x.unsqueeze(1);
  if (x.dim() != 4) fail("expected images [N, H, W] or [N, C, H, W], got " + std::to_string(images.dim()) + " dims");
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  if (c != 1 && c != 3) fail("expected 1 or 3 channels, got " + std::to_string(c));
  if (n < 1 || h < 1 || w < 1) fail("no pixels to write");
  if (cols < 1) fail("cols must be >= 1");
  if (pad < 0) fail("pad must be >= 0");
  if (x.scalar_type() != at::kByte) {
    if (!x.is_floating_point()) fail("expected uint8 or floating-point pixels");
    x = x.to(at::kFloat);
    if (range == PixelRange::kMinusOneToOne) x = (x + 1.0) * 0.5;
    x = (x.clamp(0.0, 1.0) * 255.0).round().to(at::kByte);
  }
  x = x.permute({0, 2, 3, 1}).contiguous();  // [N, H, W, C]
  const int64_t ncols = std::min(cols, n);
  const int64_t nrows = (n + ncols - 1) / ncols;
  const int64_t width = ncols * w + (ncols + 1) * pad;
  const int64_t height = nrows * h + (nrows + 1) * pad;
  if (width > (1 << 20) || height > (1 << 20)) fail("grid too large");
  std::vector<unsigned char> canvas(static_cast<size_t>(width * height * c), 0);
  const uint8_t* src = x.data_ptr<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y0 = pad + (i / ncols) * (h + pad), x0 = pad + (i % ncols) * (w + pad);
    for (int64_t y = 0; y < h; ++y) {
      const uint8_t* row = src + ((i * h + y) * w) * c;
      std::copy(row, row + w * c, canvas.begin() + ((y0 + y) * width + x0) * c);
    }
  }
  const std::string tmp = path + ".tmp";
  // A SIGINT/SIGTERM while the temporary exists removes it (framework/core/partial_files.h).
  const int slot = register_partial_file(tmp);
  if (stbi_write_png(tmp.c_str(), static_cast<int>(width), static_cast<int>(height), static_cast<int>(c),
                     canvas.data(), static_cast<int>(width * c)) == 0) {
    std::remove(tmp.c_str());
    unregister_partial_file(slot);
    fail("cannot write '" + tmp + "'");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    unregister_partial_file(slot);
    fail("cannot rename '" + tmp + "' to it");
  }
  unregister_partial_file(slot);
}

}  // namespace pqlab
