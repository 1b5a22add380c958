// Result files in HDF5: an RAII writer that publishes the file atomically on commit(), and a
// reader for tests and tools. Thin wrappers over the HDF5 C API (hdf5.h stays out of this header
// so only hdf5_file.cpp needs the HDF5 include path). The serial HDF5 library is not
// thread-safe: use these classes from one thread at a time.
//
// Paths are HDF5 object paths ("/", "/layers/block.0", "metrics/fid"); a leading '/' is
// optional. Errors about files and objects are RuntimeError naming both; HDF5's own error-stack
// printing is switched off.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace pqlab {

/// Writes final_path + ".partial-<host>-<pid>" (partial_file_tag()) and renames it to final_path
/// in commit(), so a result file that exists is always complete. Without commit() (an exception,
/// an early return), the destructor deletes the partial file, and so does SIGINT/SIGTERM once
/// install_interrupt_cleanup() has run (framework/core/partial_files.h). SIGKILL or a crash can
/// leave the partial file, but never a file at final_path; clean_stale_partial_files() removes
/// such leftovers of this host on the next run.
class H5Writer {
 public:
  /// Creates (truncating) the partial file. Throws RuntimeError if it cannot be created.
  explicit H5Writer(std::string final_path);
  ~H5Writer();
  H5Writer(H5Writer&&) noexcept;
  H5Writer& operator=(H5Writer&&) = delete;
  H5Writer(const H5Writer&) = delete;
  H5Writer& operator=(const H5Writer&) = delete;

  const std::string& final_path() const;
  const std::string& partial_path() const;

  /// Sets (or replaces) attribute `name` on the group or dataset at `object_path`; a missing
  /// object is created as a group, with its parents. Stored as a scalar variable-length UTF-8
  /// string, a float64 scalar, an int64 scalar, or a 1-D float64 array, so h5py's
  /// attrs[name] gives str, float, int, or a float64 ndarray.
  void set_attr(const std::string& object_path, const std::string& name, const std::string& value);
  void set_attr(const std::string& object_path, const std::string& name, const char* value) {
    set_attr(object_path, name, std::string(value));
  }
  void set_attr(const std::string& object_path, const std::string& name, double value);
  void set_attr(const std::string& object_path, const std::string& name, int64_t value);
  void set_attr(const std::string& object_path, const std::string& name,
                const std::vector<double>& value);
  /// Any other integer type (int, size_t, bool, ...) is stored as int64.
  template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, int64_t>, int> = 0>
  void set_attr(const std::string& object_path, const std::string& name, T value) {
    set_attr(object_path, name, static_cast<int64_t>(value));
  }

  /// Writes `t` (any device and strides; copied to contiguous CPU) as a new dataset with t's
  /// shape (0-dim tensors become scalar datasets). Stored types: float32, float64, int8, int16,
  /// int32, int64, uint8; bool as uint8 (0/1); float16/bfloat16 widened to float32 (exact).
  /// Parent groups are created as needed. Throws UsageError if the path already exists or the
  /// dtype has no HDF5 equivalent.
  void write(const std::string& dataset_path, const at::Tensor& t);
  /// Writes a 1-D dataset of variable-length UTF-8 strings (h5py: bytes, or str via .asstr()).
  void write_strings(const std::string& dataset_path, const std::vector<std::string>& v);
  /// Creates a group and its parents; an existing group is left as it is.
  void create_group(const std::string& path);

  /// Flushes and closes the file, then renames it to final_path (atomic within a filesystem).
  /// Only now does the result exist. Any later call except the destructor throws UsageError.
  void commit();

 private:
  struct Impl;
  Impl& live();  // impl_, or UsageError once committed or moved from
  std::unique_ptr<Impl> impl_;
};

/// Read-only view of an HDF5 file.
class H5Reader {
 public:
  struct Entry {
    std::string path;            ///< absolute, e.g. "/layers/block.0/mse"
    bool is_group = false;
    std::vector<int64_t> shape;  ///< datasets only; [] for scalars
    std::string dtype;           ///< datasets only: "float32", "int64", "uint8", "string", ...
  };

  /// Throws RuntimeError if the file is missing or not HDF5.
  explicit H5Reader(const std::string& path);
  ~H5Reader();
  H5Reader(H5Reader&&) noexcept;
  H5Reader& operator=(H5Reader&&) = delete;
  H5Reader(const H5Reader&) = delete;
  H5Reader& operator=(const H5Reader&) = delete;

  /// Every group and dataset below the root (the root itself excluded), sorted by path.
  std::vector<Entry> list() const;
  /// Attributes of an object, sorted by name, each value rendered as text: strings as-is,
  /// integers in decimal, floats in shortest round-trip form, arrays as "[a, b, c]".
  std::vector<std::pair<std::string, std::string>> attrs(const std::string& object_path) const;
  /// Numeric dataset as a CPU tensor of the stored shape: float64 for floating-point data,
  /// int64 for integer data (including bool stored as uint8).
  at::Tensor read(const std::string& dataset_path) const;
  /// String dataset (variable- or fixed-length) as a flat list, in storage order.
  std::vector<std::string> read_strings(const std::string& dataset_path) const;
  /// Whether a group or dataset exists at `path` ("/" always does).
  bool exists(const std::string& path) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pqlab
