// Safetensors checkpoints: a zero-copy, memory-mapped reader and an atomic writer.
// Format (https://github.com/huggingface/safetensors): u64 little-endian header length N, N bytes
// of JSON {"__metadata__": {str: str}, "<name>": {"dtype", "shape", "data_offsets": [b, e]}},
// then the data buffer; offsets are relative to the buffer start. Tensor data is little-endian
// and this code assumes a little-endian host (checked at compile time).
//
// Supported dtypes: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL, plus F8_E4M3 and F8_E5M2, which are
// read as raw uint8 bytes because libtorch 1.13 has no float8 dtype (TensorInfo::dtype keeps
// the on-disk name so callers can decode them).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace pqlab {

/// Read access to a set of named tensors with string metadata. One file today; a sharded
/// checkpoint (model.safetensors.index.json) will be a second implementation behind
/// open_safetensors(), so callers should hold this interface rather than SafetensorsFile.
class SafetensorsReader {
 public:
  /// Shape and type of one stored tensor, known without touching its data.
  struct TensorInfo {
    std::string dtype;                ///< on-disk name: "F32", "BF16", "F8_E4M3", ...
    at::ScalarType scalar_type;       ///< dtype get() returns (kByte for F8_*)
    std::vector<int64_t> shape;       ///< [] for a scalar
    int64_t byte_size = 0;            ///< numel * element size
  };

  virtual ~SafetensorsReader() = default;

  /// All tensor names, sorted.
  virtual std::vector<std::string> names() const = 0;
  virtual bool contains(const std::string& name) const = 0;
  /// Throws RuntimeError (naming the file and tensor) when the tensor is absent.
  virtual TensorInfo info(const std::string& name) const = 0;
  /// CPU tensor with info(name).shape and info(name).scalar_type. It shares memory with the file
  /// mapping and stays valid after the reader is destroyed. Throws RuntimeError when absent.
  virtual at::Tensor get(const std::string& name) const = 0;
  /// The "__metadata__" map (empty when the file has none).
  virtual const std::map<std::string, std::string>& metadata() const = 0;
};

/// One .safetensors file. The constructor maps the file and validates the whole header, so a
/// corrupt file fails here (RuntimeError naming the file and the offending key) and never later.
///
/// The mapping is private copy-on-write over a read-only descriptor: the file is never modified,
/// and an in-place op on a tensor from get() copies the touched pages instead of crashing.
/// write_safetensors replaces files by rename, so rewriting a checkpoint that is open here is
/// safe; truncating it in place (another tool) would make reads of mapped tensors fault (SIGBUS).
class SafetensorsFile final : public SafetensorsReader {
 public:
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile() override;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }

  std::vector<std::string> names() const override;
  bool contains(const std::string& name) const override;
  TensorInfo info(const std::string& name) const override;
  /// Zero-copy when the data is aligned to its element size (always so for files written by
  /// write_safetensors or the reference implementation); a misaligned tensor is copied instead.
  at::Tensor get(const std::string& name) const override;
  const std::map<std::string, std::string>& metadata() const override { return metadata_; }

 private:
  struct Mapping;
  struct Entry {
    TensorInfo info;
    uint64_t begin = 0;  ///< absolute offset of the first byte in the file
  };
  const Entry& entry(const std::string& name) const;

  std::string path_;
  std::shared_ptr<Mapping> mapping_;  // shared with every tensor returned by get()
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

/// Opens a safetensors checkpoint. Today: a single .safetensors file. This is the entry point
/// that will also accept sharded checkpoints, so prefer it to constructing SafetensorsFile.
std::unique_ptr<SafetensorsReader> open_safetensors(const std::string& path);

/// One tensor to write. dtype "" stores the tensor's own dtype; "F8_E4M3"/"F8_E5M2" store a
/// kByte tensor's raw bytes under that float8 tag (what SafetensorsFile::get returns for them).
struct SafetensorsEntry {
  std::string name;
  at::Tensor tensor;
  std::string dtype;
};

/// Writes `tensors` (any device, any strides; copied to contiguous CPU one at a time) and
/// `metadata` to `path`. Data goes to path + ".tmp-<pid>", which is renamed over `path` only once
/// complete, so a crash never leaves a file that looks finished. The header is padded with spaces
/// to a multiple of 8 bytes and tensors are ordered by element size, then name, so every tensor
/// is aligned for zero-copy reading.
/// Throws UsageError (naming the tensor) for duplicate or reserved names and unsupported dtypes;
/// RuntimeError for I/O failures.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});
/// As above, with an explicit on-disk dtype per tensor (for float8 data held as uint8).
void write_safetensors_entries(const std::string& path, const std::vector<SafetensorsEntry>& tensors,
                               const std::map<std::string, std::string>& metadata = {});

}  // namespace pqlab
