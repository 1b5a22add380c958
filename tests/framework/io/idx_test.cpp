#include "framework/io/idx.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <fstream>
#include <functional>
#include <string>

#include "framework/core/error.h"
#include "framework/core/paths.h"

namespace pqlab {
namespace {

class ScratchDir {
 public:
  ScratchDir() : path_(make_temp_directory("pqlab_idx_")) {}
  ~ScratchDir() { remove_tree(path_); }
  std::string file(const std::string& name) const { return path_join(path_, name); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// An IDX byte file: magic 0x000008NN, the sizes, then `data`.
std::string idx_bytes(const std::vector<uint32_t>& sizes, const std::string& data) {
  std::string s = be32(0x00000800u | static_cast<uint32_t>(sizes.size()));
  for (uint32_t d : sizes) s += be32(d);
  return s + data;
}

void write_plain(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

std::string counting(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>(i % 256);
  return s;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const RuntimeError& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace

TEST(idx, reads_plain_and_gzipped_files) {
  ScratchDir dir;
  const std::string bytes = idx_bytes({2, 3, 4}, counting(24));
  write_plain(dir.file("a-idx3-ubyte"), bytes);
  write_gz(dir.file("a-idx3-ubyte.gz"), bytes);
  for (const std::string name : {"a-idx3-ubyte", "a-idx3-ubyte.gz"}) {
    const at::Tensor t = read_idx(dir.file(name));
    EXPECT_EQ(t.scalar_type(), at::kByte) << name;
    EXPECT_EQ(t.sizes(), (std::vector<int64_t>{2, 3, 4})) << name;
    EXPECT_TRUE(t.equal(at::arange(24).to(at::kByte).view({2, 3, 4}))) << name;
  }
  write_gz(dir.file("l.gz"), idx_bytes({5}, std::string("\x00\x09\x03\x03\x01", 5)));
  EXPECT_TRUE(read_idx(dir.file("l.gz")).equal(at::tensor({0, 9, 3, 3, 1}).to(at::kByte)));
}

TEST(idx, bad_magic_short_and_missing_files_name_the_file) {
  ScratchDir dir;
  const std::string bad = dir.file("bad");
  write_plain(bad, be32(0x00000D01u) + be32(1) + "x");  // 0x0D = float32, not supported
  EXPECT_EQ(message_of([&] { read_idx(bad); }),
            "IDX file '" + bad + "': bad magic 0x00000D01 (expected 0x000008NN: unsigned bytes, NN dimensions)");
  const std::string shortf = dir.file("short.gz");
  write_gz(shortf, idx_bytes({10}, "abc"));
  EXPECT_EQ(message_of([&] { read_idx(shortf); }),
            "IDX file '" + shortf + "' is truncated: expected 10 bytes of data, got 3");
  const std::string header_only = dir.file("hdr");
  write_plain(header_only, be32(0x00000803u) + be32(1));
  EXPECT_NE(message_of([&] { read_idx(header_only); }).find("'" + header_only + "' is truncated"), std::string::npos);
  const std::string missing = dir.file("nope");
  EXPECT_EQ(message_of([&] { read_idx(missing); }), "IDX file '" + missing + "' does not exist");
}

TEST(idx, fashion_mnist_from_a_small_folder_and_missing_folder_message) {
  ScratchDir dir;
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

TEST(idx, real_fashion_mnist_test_split) {
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

}  // namespace pqlab
