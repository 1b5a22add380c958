#include "framework/io/idx.h"

#include <ATen/ATen.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "framework/core/error.h"
#include "framework/core/paths.h"

namespace pqlab {
namespace {

// gzread reads plain (uncompressed) files unchanged too, so one reader serves both.
class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path), f_(gzopen(path.c_str(), "rb")) {
    if (f_ == nullptr) throw RuntimeError("cannot open IDX file '" + path + "'");
  }
  ~GzReader() { gzclose(f_); }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  void read(void* dst, size_t n, const char* what) {
    auto* p = static_cast<unsigned char*>(dst);
    size_t done = 0;
    while (done < n) {
      const size_t chunk = std::min<size_t>(n - done, size_t{1} << 30);
      const int got = gzread(f_, p + done, static_cast<unsigned>(chunk));
      if (got < 0) {
        int errnum = 0;
        const char* msg = gzerror(f_, &errnum);
        throw RuntimeError("IDX file '" + path_ + "': read error: " + (msg ? msg : "unknown"));
      }
      if (got == 0) {
        throw RuntimeError("IDX file '" + path_ + "' is truncated: expected " + std::to_string(n) + " bytes of " +
                           what + ", got " + std::to_string(done));
      }
      done += static_cast<size_t>(got);
    }
  }
  uint32_t read_be32(const char* what) {
    unsigned char b[4];
    read(b, 4, what);
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
  }
  bool at_end() {
    unsigned char b;
    return gzread(f_, &b, 1) == 0;
  }

 private:
  std::string path_;
  gzFile f_;
};

}  // namespace

at::Tensor read_idx(const std::string& path) {
  if (!is_regular_file(path)) throw RuntimeError("IDX file '" + path + "' does not exist");
  GzReader in(path);
  const uint32_t magic = in.read_be32("header");
  const uint32_t ndim = magic & 0xFFu;
  if ((magic & 0xFFFFFF00u) != 0x00000800u || ndim == 0 || ndim > 8) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%08X", magic);
    throw RuntimeError("IDX file '" + path + "': bad magic " + hex +
                       " (expected 0x000008NN: unsigned bytes, NN dimensions)");
  }
  std::vector<int64_t> sizes;
  int64_t numel = 1;
  for (uint32_t i = 0; i < ndim; ++i) {
    const uint32_t s = in.read_be32("header");
    if (s > (uint32_t{1} << 31) - 1) throw RuntimeError("IDX file '" + path + "': dimension too large");
    sizes.push_back(static_cast<int64_t>(s));
    numel *= static_cast<int64_t>(s);
    if (numel > (int64_t{1} << 40)) throw RuntimeError("IDX file '" + path + "': too many elements");
  }
  at::Tensor out = at::empty(sizes, at::kByte);
  if (numel > 0) in.read(out.data_ptr<uint8_t>(), static_cast<size_t>(numel), "data");
  if (!in.at_end()) throw RuntimeError("IDX file '" + path + "' has trailing bytes after its data");
  return out;
}

}  // namespace pqlab
