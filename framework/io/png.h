// PNG output of image grids (samples, reconstructions) through stb_image_write.
// Tests: tests/framework/io/png_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace pqlab {

/// How float pixel values map to [0, 255]; ignored for uint8 images (written as they are).
enum class PixelRange {
  kMinusOneToOne,  ///< [-1, 1] -> [0, 255] (a generative model's output)
  kZeroToOne,      ///< [0, 1]  -> [0, 255]
};

/// Writes `images` ([N, H, W] grey, or [N, C, H, W] with C = 1 or 3) as one PNG: a grid of
/// `cols` columns (rows as needed) with `pad` black pixels between and around the tiles.
/// Float values are clamped to `range` first. Writes "<path>.tmp" and renames it, so a reader
/// never sees a partial file. Throws RuntimeError naming the file on bad input or I/O failure.
void write_png_grid(const std::string& path, const at::Tensor& images, int64_t cols,
                    PixelRange range = PixelRange::kMinusOneToOne, int pad = 2);

}  // namespace pqlab
