#include "framework/io/png.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>

#include "framework/core/error.h"
#include "framework/core/paths.h"

namespace pqlab {
namespace {

class ScratchDir {
 public:
  ScratchDir() : path_(make_temp_directory("pqlab_png_")) {}
  ~ScratchDir() { remove_tree(path_); }
  std::string file(const std::string& name) const { return path_join(path_, name); }
  std::vector<std::string> entries() const { return list_directory(path_); }

 private:
  std::string path_;
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

uint32_t be32_at(const std::string& s, size_t off) {
  const auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(s[off + i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

// Checks the PNG signature and the IHDR chunk; returns {width, height, colour type}.
std::array<uint32_t, 3> png_header(const std::string& bytes) {
  EXPECT_GE(bytes.size(), 33u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(be32_at(bytes, 8), 13u);  // IHDR length
  EXPECT_EQ(bytes.substr(12, 4), "IHDR");
  return {be32_at(bytes, 16), be32_at(bytes, 20), static_cast<uint32_t>(static_cast<unsigned char>(bytes[25]))};
}

}  // namespace

TEST(png, grey_grid_has_expected_size) {
  ScratchDir dir;
  const std::string path = dir.file("grid.png");
  // 5 images 28x28 in 3 columns, pad 2: width 3*28 + 4*2 = 92, height 2*28 + 3*2 = 62.
  write_png_grid(path, at::rand({5, 28, 28}) * 2 - 1, 3);
  const auto h = png_header(read_all(path));
  EXPECT_EQ(h[0], 92u);
  EXPECT_EQ(h[1], 62u);
  EXPECT_EQ(h[2], 0u);  // grey
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"grid.png"}));  // no temp file left
}

TEST(png, rgb_uint8_and_zero_one_inputs) {
  ScratchDir dir;
  // 2 RGB images 4x6 in 4 columns (only 2 used), pad 1: width 2*6 + 3 = 15, height 4 + 2 = 6.
  write_png_grid(dir.file("rgb.png"), at::randint(0, 256, {2, 3, 4, 6}).to(at::kByte), 4, PixelRange::kZeroToOne, 1);
  auto h = png_header(read_all(dir.file("rgb.png")));
  EXPECT_EQ(h[0], 15u);
  EXPECT_EQ(h[1], 6u);
  EXPECT_EQ(h[2], 2u);  // truecolour
  write_png_grid(dir.file("one.png"), at::rand({1, 1, 7, 9}, at::kDouble), 8, PixelRange::kZeroToOne, 0);
  h = png_header(read_all(dir.file("one.png")));
  EXPECT_EQ(h[0], 9u);
  EXPECT_EQ(h[1], 7u);
}

TEST(png, errors_name_the_file) {
  ScratchDir dir;
  const std::string path = dir.file("x.png");
  try {
    write_png_grid(path, at::zeros({2, 2, 5, 5}), 2);  // 2 channels
    FAIL() << "no error";
  } catch (const RuntimeError& e) {
    EXPECT_EQ(std::string(e.what()), "PNG '" + path + "': expected 1 or 3 channels, got 2");
  }
  const std::string unwritable = dir.file("no_dir/x.png");
  try {
    write_png_grid(unwritable, at::zeros({1, 5, 5}), 1);
    FAIL() << "no error";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find(unwritable), std::string::npos) << e.what();
  }
}

}  // namespace pqlab
