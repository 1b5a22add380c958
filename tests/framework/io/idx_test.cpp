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
#include "tests/common/error_text.h"
#include "tests/common/idx_files.h"

namespace pqlab {
namespace {
using namespace test;  // idx_bytes, write_plain, write_gz, counting, be32

class ScratchDir {
 public:
  ScratchDir() : path_(make_temp_directory("pqlab_idx_")) {}
  ~ScratchDir() { remove_tree(path_); }
  std::string file(const std::string& name) const { return path_join(path_, name); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

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

}  // namespace pqlab
