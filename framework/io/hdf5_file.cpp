// HDF5 result files over the C API; see hdf5_file.h. Only calls that exist unchanged in HDF5
// 1.10 through 1.14 are used (no H5O_info_t / H5L_info_t, whose layouts changed in 1.12), so the
// same source builds against Debian's 1.10 and newer installs.
#include "framework/io/hdf5_file.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "framework/core/error.h"
#include "framework/core/partial_files.h"
#include "framework/core/text.h"

namespace pqlab {
namespace {

// HDF5 prints its whole error stack to stderr by default; we report errors ourselves. The setting
// is per thread in thread-safe builds, so it is applied on every open rather than once.
void silence_hdf5_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

// The outermost and innermost descriptions on HDF5's error stack ("unable to create file;
// unable to open file: name = ..., errno = 2, ..."), then clears the stack.
std::string hdf5_detail() {
  std::vector<std::string> descs;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* e, void* data) -> herr_t {
        if (e->desc && *e->desc) static_cast<std::vector<std::string>*>(data)->push_back(e->desc);
        return 0;
      },
      &descs);
  H5Eclear2(H5E_DEFAULT);
  if (descs.empty()) return "HDF5 error";
  if (descs.size() == 1 || descs.front() == descs.back()) return descs.front();
  return descs.front() + "; " + descs.back();
}

// Owns one hid_t and closes it with the matching H5?close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept {
    std::swap(id_, o.id_);
    std::swap(close_, o.close_);
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (id_ >= 0 && close_) close_(id_);
  }
  hid_t get() const { return id_; }

 private:
  hid_t id_ = -1;
  Closer close_ = nullptr;
};

// Wraps a freshly returned id, throwing RuntimeError("<context>: <hdf5 detail>") on failure.
Handle checked(hid_t id, Handle::Closer close, const std::string& context) {
  if (id < 0) throw RuntimeError(context + ": " + hdf5_detail());
  return Handle(id, close);
}

void check(herr_t status, const std::string& context) {
  if (status < 0) throw RuntimeError(context + ": " + hdf5_detail());
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= path.size()) {
    const size_t j = std::min(path.find('/', i), path.size());
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return parts;
}

// "a//b/" -> "/a/b"; "" -> "/". HDF5 resolves "." and ".." components itself, so an object
// created under such a path is listed under a name that no longer opens (found by fuzzing,
// tests/fuzz/regressions/hdf5_result_fuzz/): they are refused.
std::string normalize(const std::string& path) {
  std::string out;
  for (const std::string& part : split_path(path)) {
    if (part == "." || part == "..")
      throw UsageError("HDF5 object path '" + path + "': '" + part + "' is not allowed as a name");
    out += "/" + part;
  }
  return out.empty() ? "/" : out;
}

// True if every component of `path` exists and resolves to an object. H5Lexists alone errors
// out when a parent is missing, so walk the components.
bool object_exists(hid_t file, const std::string& path) {
  std::string prefix;
  for (const std::string& part : split_path(path)) {
    prefix += "/" + part;
    if (H5Lexists(file, prefix.c_str(), H5P_DEFAULT) <= 0 ||
        H5Oexists_by_name(file, prefix.c_str(), H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
  }
  return true;
}

H5I_type_t object_type(hid_t file, const std::string& path) {
  Handle obj(H5Oopen(file, path.c_str(), H5P_DEFAULT), H5Oclose);
  if (obj.get() < 0) {
    H5Eclear2(H5E_DEFAULT);
    return H5I_BADID;
  }
  return H5Iget_type(obj.get());
}

// Variable-length UTF-8 string type: what h5py reads back as str.
Handle vlen_utf8_type() {
  Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t.get(), H5T_VARIABLE);
  H5Tset_cset(t.get(), H5T_CSET_UTF8);
  return t;
}

std::string dtype_name(hid_t type) {
  const size_t bits = 8 * H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      return (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(bits);
    case H5T_FLOAT: return "float" + std::to_string(bits);
    case H5T_STRING: return "string";
    case H5T_ENUM: return "enum";
    case H5T_COMPOUND: return "compound";
    case H5T_ARRAY: return "array";
    default: return "other";
  }
}

std::vector<int64_t> extent(hid_t space) {
  const int ndims = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(static_cast<size_t>(std::max(ndims, 0)));
  if (ndims > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return std::vector<int64_t>(dims.begin(), dims.end());
}


// Reads `n` strings of string type `file_type` with `read(mem_type, buffer)`, for attributes and
// datasets alike.
template <class ReadFn>
std::vector<std::string> read_string_values(hid_t file_type, size_t n, ReadFn read) {
  std::vector<std::string> out;
  if (H5Tis_variable_str(file_type) > 0) {
    Handle mem = vlen_utf8_type();
    H5Tset_cset(mem.get(), H5Tget_cset(file_type));
    std::vector<char*> ptrs(n, nullptr);
    read(mem.get(), ptrs.data());
    for (char* p : ptrs) {
      out.emplace_back(p ? p : "");
      if (p) H5free_memory(p);  // the library allocated each string
    }
    return out;
  }
  const size_t size = H5Tget_size(file_type);
  Handle mem(H5Tcopy(file_type), H5Tclose);
  std::vector<char> buf(n * size);
  read(mem.get(), buf.data());
  const bool space_padded = H5Tget_strpad(file_type) == H5T_STR_SPACEPAD;
  for (size_t i = 0; i < n; ++i) {
    std::string s(buf.data() + i * size, size);
    const size_t nul = s.find('\0');
    if (nul != std::string::npos) s.resize(nul);
    if (space_padded) s.erase(s.find_last_not_of(' ') + 1);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Writer

struct H5Writer::Impl {
  std::string final_path;
  std::string partial_path;
  hid_t file = -1;
  bool committed = false;
  int signal_slot = -1;  // register_partial_file(): a SIGINT/SIGTERM removes partial_path
  Handle lcpl;  // link creation: intermediate groups, UTF-8 names

  std::string where(const std::string& object) const {
    return final_path + ": '" + object + "'";
  }

  void put_attr(const std::string& object_path, const std::string& name, hid_t file_type,
                hid_t mem_type, hid_t space, const void* data) {
    const std::string path = normalize(object_path);
    if (!object_exists(file, path)) create_group(path);
    const std::string context = where(path) + ": attribute '" + name + "'";
    Handle obj = checked(H5Oopen(file, path.c_str(), H5P_DEFAULT), H5Oclose, context);
    if (H5Aexists(obj.get(), name.c_str()) > 0) {
      check(H5Adelete(obj.get(), name.c_str()), context);
    }
    Handle attr = checked(
        H5Acreate2(obj.get(), name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
        context);
    if (data) check(H5Awrite(attr.get(), mem_type, data), context);
  }

  void create_group(const std::string& path) {
    if (path == "/") return;
    if (object_exists(file, path)) {
      if (object_type(file, path) != H5I_GROUP) {
        throw UsageError(where(path) + ": exists and is not a group");
      }
      return;
    }
    checked(H5Gcreate2(file, path.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
            where(path) + ": cannot create group");
  }

  // A new dataset must not collide with an existing object; its parents must be groups.
  void check_new_dataset(const std::string& path) {
    if (path == "/") throw UsageError(final_path + ": cannot write a dataset at '/'");
    if (object_exists(file, path)) throw UsageError(where(path) + ": already exists");
    const size_t slash = path.rfind('/');
    create_group(slash == 0 ? "/" : path.substr(0, slash));
  }
};

H5Writer::H5Writer(std::string final_path) : impl_(std::make_unique<Impl>()) {
  silence_hdf5_errors();
  impl_->final_path = std::move(final_path);
  impl_->partial_path = impl_->final_path + ".partial-" + partial_file_tag();
  // Registered before the file exists, so no signal can fall between creation and registration.
  impl_->signal_slot = register_partial_file(impl_->partial_path);
  impl_->file = H5Fcreate(impl_->partial_path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (impl_->file < 0) {
    unregister_partial_file(impl_->signal_slot);
    throw RuntimeError(impl_->final_path + ": cannot create result file '" +
                       impl_->partial_path + "': " + hdf5_detail());
  }
  impl_->lcpl = Handle(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(impl_->lcpl.get(), 1);
  H5Pset_char_encoding(impl_->lcpl.get(), H5T_CSET_UTF8);
}

H5Writer::H5Writer(H5Writer&&) noexcept = default;

H5Writer::~H5Writer() {
  if (!impl_ || impl_->committed) return;
  impl_->lcpl = Handle();
  if (impl_->file >= 0) H5Fclose(impl_->file);
  ::unlink(impl_->partial_path.c_str());
  unregister_partial_file(impl_->signal_slot);
}

const std::string& H5Writer::final_path() const { return impl_->final_path; }
const std::string& H5Writer::partial_path() const { return impl_->partial_path; }

// Every mutating call goes through here, so use after commit() (or after a move) is reported.
H5Writer::Impl& H5Writer::live() {
  if (!impl_) throw UsageError("H5Writer used after being moved from");
  if (impl_->committed || impl_->file < 0) {
    throw UsageError(impl_->final_path + ": result file is already committed or closed");
  }
  return *impl_;
}

void H5Writer::set_attr(const std::string& object_path, const std::string& name,
                        const std::string& value) {
  Impl& w = live();
  Handle type = vlen_utf8_type();
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  const char* ptr = value.c_str();
  w.put_attr(object_path, name, type.get(), type.get(), space.get(), &ptr);
}

void H5Writer::set_attr(const std::string& object_path, const std::string& name, double value) {
  Impl& w = live();
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  w.put_attr(object_path, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, space.get(), &value);
}

void H5Writer::set_attr(const std::string& object_path, const std::string& name, int64_t value) {
  Impl& w = live();
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  w.put_attr(object_path, name, H5T_STD_I64LE, H5T_NATIVE_INT64, space.get(), &value);
}

void H5Writer::set_attr(const std::string& object_path, const std::string& name,
                        const std::vector<double>& value) {
  Impl& w = live();
  const hsize_t n = value.size();
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  w.put_attr(object_path, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, space.get(),
             value.empty() ? nullptr : value.data());
}

void H5Writer::write(const std::string& dataset_path, const at::Tensor& t) {
  Impl& w = live();
  const std::string path = normalize(dataset_path);
  if (!t.defined()) throw UsageError(w.where(path) + ": tensor is undefined");
  at::Tensor c = t.detach().to(at::kCPU);
  switch (c.scalar_type()) {
    case at::kHalf:
    case at::kBFloat16: c = c.to(at::kFloat); break;  // exact widening; h5py has no bf16
    case at::kBool: c = c.to(at::kByte); break;
    default: break;
  }
  c = c.contiguous();
  hid_t file_type = -1, mem_type = -1;
  switch (c.scalar_type()) {
    case at::kFloat: file_type = H5T_IEEE_F32LE; mem_type = H5T_NATIVE_FLOAT; break;
    case at::kDouble: file_type = H5T_IEEE_F64LE; mem_type = H5T_NATIVE_DOUBLE; break;
    case at::kChar: file_type = H5T_STD_I8LE; mem_type = H5T_NATIVE_INT8; break;
    case at::kShort: file_type = H5T_STD_I16LE; mem_type = H5T_NATIVE_INT16; break;
    case at::kInt: file_type = H5T_STD_I32LE; mem_type = H5T_NATIVE_INT32; break;
    case at::kLong: file_type = H5T_STD_I64LE; mem_type = H5T_NATIVE_INT64; break;
    case at::kByte: file_type = H5T_STD_U8LE; mem_type = H5T_NATIVE_UINT8; break;
    default:
      throw UsageError(w.where(path) + ": dtype " +
                       std::string(c10::toString(t.scalar_type())) + " cannot be stored in HDF5");
  }
  w.check_new_dataset(path);
  const std::vector<hsize_t> dims(c.sizes().begin(), c.sizes().end());
  Handle space = c.dim() == 0
                     ? Handle(H5Screate(H5S_SCALAR), H5Sclose)
                     : Handle(H5Screate_simple(static_cast<int>(c.dim()), dims.data(), nullptr), H5Sclose);
  const std::string context = w.where(path) + ": cannot write dataset";
  Handle ds = checked(H5Dcreate2(w.file, path.c_str(), file_type, space.get(),
                                 w.lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
                      H5Dclose, context);
  if (c.numel() > 0) {
    check(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.data_ptr()), context);
  }
}

void H5Writer::write_strings(const std::string& dataset_path, const std::vector<std::string>& v) {
  Impl& w = live();
  const std::string path = normalize(dataset_path);
  w.check_new_dataset(path);
  Handle type = vlen_utf8_type();
  const hsize_t n = v.size();
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  const std::string context = w.where(path) + ": cannot write string dataset";
  Handle ds = checked(H5Dcreate2(w.file, path.c_str(), type.get(), space.get(),
                                 w.lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
                      H5Dclose, context);
  std::vector<const char*> ptrs;
  ptrs.reserve(v.size());
  for (const std::string& s : v) ptrs.push_back(s.c_str());
  if (!ptrs.empty()) {
    check(H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), context);
  }
}

void H5Writer::create_group(const std::string& path) {
  Impl& w = live();
  w.create_group(normalize(path));
}

void H5Writer::commit() {
  Impl& w = live();
  check(H5Fflush(w.file, H5F_SCOPE_GLOBAL), w.final_path + ": cannot flush result file");
  w.lcpl = Handle();
  const hid_t file = w.file;
  w.file = -1;  // from here on, a failure leaves the destructor only the partial file to delete
  check(H5Fclose(file), w.final_path + ": cannot close result file");
  // H5Fflush hands data to the OS only; sync so a rename that survives a crash names full data.
  const int fd = ::open(w.partial_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  if (::rename(w.partial_path.c_str(), w.final_path.c_str()) != 0) {
    throw RuntimeError(w.final_path + ": cannot rename '" + w.partial_path +
                       "' into place: " + std::strerror(errno));
  }
  // After the rename: a signal in between unlinks a name that no longer exists, harmlessly.
  unregister_partial_file(w.signal_slot);
  w.signal_slot = -1;
  w.committed = true;
}

// ---------------------------------------------------------------------------------------------
// Reader

struct H5Reader::Impl {
  std::string path;
  Handle file;

  std::string where(const std::string& object) const { return path + ": '" + object + "'"; }

  // Opens an existing object or throws RuntimeError naming the file and object.
  Handle open(const std::string& object) const {
    const std::string p = normalize(object);
    if (!object_exists(file.get(), p)) throw RuntimeError(where(p) + ": no such group or dataset");
    return checked(H5Oopen(file.get(), p.c_str(), H5P_DEFAULT), H5Oclose, where(p));
  }

  Handle open_dataset(const std::string& object) const {
    const std::string p = normalize(object);
    Handle obj = open(p);
    if (H5Iget_type(obj.get()) != H5I_DATASET) throw RuntimeError(where(p) + ": not a dataset");
    return obj;
  }

  void walk(hid_t group, const std::string& prefix, int depth, std::vector<Entry>& out) const {
    // Hard links can form cycles; no result file we write is anywhere near this deep.
    if (depth > 64) throw RuntimeError(where(prefix) + ": groups nested too deeply (a cycle?)");
    H5G_info_t info;
    check(H5Gget_info(group, &info), where(prefix.empty() ? "/" : prefix));
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      const ssize_t len = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr,
                                             0, H5P_DEFAULT);
      if (len < 0) check(-1, where(prefix));
      std::string name(static_cast<size_t>(len), '\0');
      H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size() + 1,
                         H5P_DEFAULT);
      if (H5Oexists_by_name(group, name.c_str(), H5P_DEFAULT) <= 0) {  // dangling soft link
        H5Eclear2(H5E_DEFAULT);
        continue;
      }
      const std::string full = prefix + "/" + name;
      Handle obj = checked(H5Oopen(group, name.c_str(), H5P_DEFAULT), H5Oclose, where(full));
      const H5I_type_t type = H5Iget_type(obj.get());
      if (type == H5I_GROUP) {
        out.push_back({full, true, {}, ""});
        walk(obj.get(), full, depth + 1, out);
      } else if (type == H5I_DATASET) {
        Handle space(H5Dget_space(obj.get()), H5Sclose);
        Handle dtype(H5Dget_type(obj.get()), H5Tclose);
        out.push_back({full, false, extent(space.get()), dtype_name(dtype.get())});
      }
    }
  }
};

H5Reader::H5Reader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  silence_hdf5_errors();
  impl_->path = path;
  if (::access(path.c_str(), F_OK) != 0) {
    throw RuntimeError(path + ": cannot open HDF5 file: " + std::strerror(errno));
  }
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) {
    throw RuntimeError(path + ": not a readable HDF5 file: " + hdf5_detail());
  }
  impl_->file = Handle(file, H5Fclose);
}

H5Reader::H5Reader(H5Reader&&) noexcept = default;
H5Reader::~H5Reader() = default;

std::vector<H5Reader::Entry> H5Reader::list() const {
  std::vector<Entry> out;
  Handle root = checked(H5Gopen2(impl_->file.get(), "/", H5P_DEFAULT), H5Gclose, impl_->where("/"));
  impl_->walk(root.get(), "", 0, out);
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.path < b.path; });
  return out;
}

std::vector<std::pair<std::string, std::string>> H5Reader::attrs(
    const std::string& object_path) const {
  const std::string p = normalize(object_path);
  Handle obj = impl_->open(p);
  // The callback only collects names: exceptions must not cross HDF5's C frames.
  std::vector<std::string> names;
  hsize_t idx = 0;
  check(H5Aiterate2(
            obj.get(), H5_INDEX_NAME, H5_ITER_INC, &idx,
            [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
              static_cast<std::vector<std::string>*>(data)->push_back(name);
              return 0;
            },
            &names),
        impl_->where(p) + ": cannot list attributes");

  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& name : names) {
    const std::string context = impl_->where(p) + ": attribute '" + name + "'";
    Handle attr = checked(H5Aopen(obj.get(), name.c_str(), H5P_DEFAULT), H5Aclose, context);
    Handle type(H5Aget_type(attr.get()), H5Tclose);
    Handle space(H5Aget_space(attr.get()), H5Sclose);
    const hssize_t npoints = H5Sget_simple_extent_npoints(space.get());
    const size_t n = static_cast<size_t>(std::max<hssize_t>(npoints, 0));
    const bool scalar = H5Sget_simple_extent_type(space.get()) == H5S_SCALAR;

    std::vector<std::string> values;
    switch (H5Tget_class(type.get())) {
      case H5T_STRING:
        values = read_string_values(type.get(), n, [&](hid_t mem, void* buf) {
          check(H5Aread(attr.get(), mem, buf), context);
        });
        break;
      case H5T_INTEGER:
        if (H5Tget_sign(type.get()) == H5T_SGN_NONE && H5Tget_size(type.get()) == 8) {
          std::vector<uint64_t> buf(n);
          if (n) check(H5Aread(attr.get(), H5T_NATIVE_UINT64, buf.data()), context);
          for (uint64_t v : buf) values.push_back(std::to_string(v));
        } else {
          std::vector<int64_t> buf(n);
          if (n) check(H5Aread(attr.get(), H5T_NATIVE_INT64, buf.data()), context);
          for (int64_t v : buf) values.push_back(std::to_string(v));
        }
        break;
      case H5T_FLOAT: {
        std::vector<double> buf(n);
        if (n) check(H5Aread(attr.get(), H5T_NATIVE_DOUBLE, buf.data()), context);
        for (double v : buf) values.push_back(format_double(v));
        break;
      }
      default:
        values.push_back("<" + dtype_name(type.get()) + ">");
        break;
    }
    std::string text;
    if (scalar && values.size() == 1) {
      text = values.front();
    } else {
      text = "[";
      for (size_t i = 0; i < values.size(); ++i) text += (i ? ", " : "") + values[i];
      text += "]";
    }
    out.emplace_back(name, std::move(text));
  }
  return out;
}

at::Tensor H5Reader::read(const std::string& dataset_path) const {
  const std::string p = normalize(dataset_path);
  Handle ds = impl_->open_dataset(p);
  Handle type(H5Dget_type(ds.get()), H5Tclose);
  Handle space(H5Dget_space(ds.get()), H5Sclose);
  hid_t mem_type = -1;
  at::ScalarType st = at::kDouble;
  switch (H5Tget_class(type.get())) {
    case H5T_INTEGER: mem_type = H5T_NATIVE_INT64; st = at::kLong; break;
    case H5T_FLOAT: mem_type = H5T_NATIVE_DOUBLE; st = at::kDouble; break;
    default:
      throw RuntimeError(impl_->where(p) + ": dataset of type " + dtype_name(type.get()) +
                         " is not numeric");
  }
  if (H5Sget_simple_extent_type(space.get()) == H5S_NULL) return at::empty({0}, at::dtype(st));
  at::Tensor out = at::empty(extent(space.get()), at::dtype(st));
  if (out.numel() > 0) {
    check(H5Dread(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data_ptr()),
          impl_->where(p) + ": cannot read dataset");
  }
  return out;
}

std::vector<std::string> H5Reader::read_strings(const std::string& dataset_path) const {
  const std::string p = normalize(dataset_path);
  Handle ds = impl_->open_dataset(p);
  Handle type(H5Dget_type(ds.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_STRING) {
    throw RuntimeError(impl_->where(p) + ": dataset of type " + dtype_name(type.get()) +
                       " does not hold strings");
  }
  Handle space(H5Dget_space(ds.get()), H5Sclose);
  const hssize_t npoints = H5Sget_simple_extent_npoints(space.get());
  const size_t n = static_cast<size_t>(std::max<hssize_t>(npoints, 0));
  if (n == 0) return {};
  return read_string_values(type.get(), n, [&](hid_t mem, void* buf) {
    check(H5Dread(ds.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf),
          impl_->where(p) + ": cannot read strings");
  });
}

bool H5Reader::exists(const std::string& path) const {
  return object_exists(impl_->file.get(), normalize(path));
}

}  // namespace pqlab
