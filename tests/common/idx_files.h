// Writing small IDX files (plain and gzipped) for the tests of the IDX reader and of the data
// sets read through it.
#pragma once
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace pqlab::test {

inline std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// An IDX byte file: magic 0x000008NN, the sizes, then `data`.
inline std::string idx_bytes(const std::vector<uint32_t>& sizes, const std::string& data) {
  std::string s = be32(0x00000800u | static_cast<uint32_t>(sizes.size()));
  for (uint32_t d : sizes) s += be32(d);
  return s + data;
}

inline void write_plain(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

inline void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

inline std::string counting(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>(i % 256);
  return s;
}

}  // namespace pqlab::test
