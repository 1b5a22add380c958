// Safetensors reader and writer; see safetensors.h for the format and the guarantees.
#include "framework/core/text.h"
#include "framework/io/safetensors.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "framework/core/error.h"
#include "framework/core/excerpt.h"
#include "framework/core/partial_files.h"
#include "framework/core/spellcheck.h"
#include "framework/io/json_limits.h"

// Tensor bytes are handed to ATen in place and the header length is memcpy'd, so the host byte
// order must match the format's.
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "framework/io/safetensors.cpp assumes a little-endian host"
#endif

namespace pqlab {
namespace {

using nlohmann::json;

// The reference implementation refuses larger headers; so do we, before allocating anything.
// Real headers are far smaller: FLUX.1-dev's ~780 tensors take about 100 KB.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DtypeSpec {
  const char* name;
  at::ScalarType scalar_type;
  int64_t element_size;
};

// F8_* map to kByte: libtorch 1.13 has no float8 type, so callers get the raw bytes.
constexpr DtypeSpec kDtypes[] = {
    {"F64", at::kDouble, 8},  {"F32", at::kFloat, 4},     {"F16", at::kHalf, 2},
    {"BF16", at::kBFloat16, 2}, {"F8_E4M3", at::kByte, 1}, {"F8_E5M2", at::kByte, 1},
    {"I64", at::kLong, 8},    {"I32", at::kInt, 4},       {"I16", at::kShort, 2},
    {"I8", at::kChar, 1},     {"U8", at::kByte, 1},       {"BOOL", at::kBool, 1},
};

const DtypeSpec* find_dtype(const std::string& name) {
  for (const DtypeSpec& d : kDtypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

// The safetensors dtype that stores `st`, or nullptr.
const DtypeSpec* dtype_for(at::ScalarType st) {
  switch (st) {
    case at::kDouble: return find_dtype("F64");
    case at::kFloat: return find_dtype("F32");
    case at::kHalf: return find_dtype("F16");
    case at::kBFloat16: return find_dtype("BF16");
    case at::kLong: return find_dtype("I64");
    case at::kInt: return find_dtype("I32");
    case at::kShort: return find_dtype("I16");
    case at::kChar: return find_dtype("I8");
    case at::kByte: return find_dtype("U8");
    case at::kBool: return find_dtype("BOOL");
    default: break;
  }
  // Newer libtorch has float8 types; compare by name so this compiles against 1.13 as well.
  const std::string name = c10::toString(st);
  if (name == "Float8_e4m3fn") return find_dtype("F8_E4M3");
  if (name == "Float8_e5m2") return find_dtype("F8_E5M2");
  return nullptr;
}

// Keys and values come from the file, so both are quoted in bounded length.
[[noreturn]] void header_error(const std::string& path, const std::string& key,
                               const std::string& what) {
  throw RuntimeError(path + ": invalid safetensors header: '" + excerpt(key) + "': " + what);
}

// An offending JSON value for a message. The header's nesting is capped before parsing, so the
// recursive dump() is safe; the text is still cut to kExcerptChars.
std::string quote(const json& value) {
  return excerpt(value.dump(-1, ' ', false, json::error_handler_t::replace));
}

struct ParsedTensor {
  std::string name;
  const DtypeSpec* dtype = nullptr;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // relative to the data buffer
};

// Validates one tensor entry of the header; `buffer_size` is the size of the data buffer.
ParsedTensor parse_entry(const std::string& path, const std::string& key, const json& value,
                         uint64_t buffer_size) {
  if (!value.is_object()) header_error(path, key, "entry is not an object: " + quote(value));
  ParsedTensor t;
  t.name = key;

  auto dtype_it = value.find("dtype");
  if (dtype_it == value.end() || !dtype_it->is_string()) {
    header_error(path, key, "missing or non-string \"dtype\"");
  }
  const std::string dtype = dtype_it->get<std::string>();
  t.dtype = find_dtype(dtype);
  if (!t.dtype) {
    header_error(path, key,
                 "unknown dtype '" + excerpt(dtype) +
                     "' (supported: F64, F32, F16, BF16, F8_E4M3, F8_E5M2, I64, I32, I16, I8, "
                     "U8, BOOL)");
  }

  auto shape_it = value.find("shape");
  if (shape_it == value.end() || !shape_it->is_array()) {
    header_error(path, key, "missing or non-array \"shape\"");
  }
  // numel * element size may not overflow: a huge shape must fail the size check below, not wrap.
  uint64_t bytes = static_cast<uint64_t>(t.dtype->element_size);
  bool too_big = false;
  for (const json& d : *shape_it) {
    if (!d.is_number_unsigned() ||
        d.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      header_error(path, key, "shape " + quote(*shape_it) + " must hold non-negative integers");
    }
    const uint64_t dim = d.get<uint64_t>();
    t.shape.push_back(static_cast<int64_t>(dim));
    if (dim != 0 && bytes > std::numeric_limits<uint64_t>::max() / dim) too_big = true;
    bytes *= dim;
  }

  auto off_it = value.find("data_offsets");
  if (off_it == value.end() || !off_it->is_array() || off_it->size() != 2 ||
      !(*off_it)[0].is_number_unsigned() || !(*off_it)[1].is_number_unsigned()) {
    header_error(path, key, "\"data_offsets\" must be [begin, end] with non-negative integers");
  }
  t.begin = (*off_it)[0].get<uint64_t>();
  t.end = (*off_it)[1].get<uint64_t>();
  if (t.end < t.begin) {
    header_error(path, key, "data_offsets " + quote(*off_it) + " end before they begin");
  }
  if (t.end > buffer_size) {
    header_error(path, key,
                 "data_offsets " + quote(*off_it) + " lie outside the " +
                     std::to_string(buffer_size) + "-byte data buffer");
  }
  if (too_big || bytes != t.end - t.begin) {
    header_error(path, key,
                 "shape " + shape_str(t.shape) + " of " + dtype + " needs " +
                     (too_big ? std::string("more than 2^64") : std::to_string(bytes)) +
                     " bytes but data_offsets " + quote(*off_it) + " span " +
                     std::to_string(t.end - t.begin));
  }
  return t;
}

// Closes the descriptor and removes the temporary file unless released; while it exists, a
// SIGINT/SIGTERM removes it too (framework/core/partial_files.h).
struct TempFile {
  std::string path;
  int fd = -1;
  bool keep = false;
  int signal_slot = -1;
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    if (!keep) ::unlink(path.c_str());
    unregister_partial_file(signal_slot);
  }
};

void write_all(int fd, const void* data, size_t size, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    // Linux writes at most ~2 GiB per call; chunk explicitly so short writes are the exception.
    const size_t chunk = std::min<size_t>(size, size_t{1} << 30);
    const ssize_t n = ::write(fd, p, chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw RuntimeError(path + ": write failed: " + std::strerror(errno));
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Reader

struct SafetensorsFile::Mapping {
  void* addr = nullptr;
  size_t size = 0;
  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (addr) ::munmap(addr, size);
  }
};

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw RuntimeError(path + ": cannot open safetensors file: " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw RuntimeError(path + ": not a regular file");
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    header_error(path, "header length",
                 "file has " + std::to_string(file_size) +
                     " bytes, fewer than the 8-byte header length");
  }
  // Private and writable: in-place edits of returned tensors copy pages instead of faulting.
  // Writable private mappings are charged against overcommit; fall back to read-only if refused.
  void* addr = ::mmap(nullptr, file_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  if (addr == MAP_FAILED && errno == ENOMEM) {
    addr = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  }
  const int map_errno = errno;
  ::close(fd);
  if (addr == MAP_FAILED) {
    throw RuntimeError(path + ": cannot memory-map file: " + std::strerror(map_errno));
  }
  mapping_ = std::make_shared<Mapping>();
  mapping_->addr = addr;
  mapping_->size = file_size;
  const char* bytes = static_cast<const char*>(addr);

  uint64_t header_size = 0;
  std::memcpy(&header_size, bytes, 8);
  if (header_size > kMaxHeaderBytes) {
    header_error(path, "header length",
                 std::to_string(header_size) + " bytes exceeds the limit of " +
                     std::to_string(kMaxHeaderBytes));
  }
  if (header_size > file_size - 8) {
    header_error(path, "header length",
                 std::to_string(header_size) + " bytes runs past the end of the " +
                     std::to_string(file_size) + "-byte file");
  }

  // Checked before parsing, so no deeply nested value is ever built (see json_limits.h).
  const std::string too_deep = json_depth_error(bytes + 8, bytes + 8 + header_size);
  if (!too_deep.empty()) header_error(path, "header JSON", too_deep);

  // nlohmann keeps the last of duplicate keys silently; a parser callback sees every key.
  std::set<std::string> seen;
  std::string duplicate;
  json::parser_callback_t on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key && duplicate.empty() &&
        !seen.insert(parsed.get<std::string>()).second) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  json header;
  try {
    header = json::parse(bytes + 8, bytes + 8 + header_size, on_event);
  } catch (const json::exception& e) {
    header_error(path, "header JSON", excerpt(e.what()));
  }
  if (!header.is_object()) header_error(path, "header JSON", "top level is not an object");
  if (!duplicate.empty()) header_error(path, duplicate, "key appears more than once");

  const uint64_t data_start = 8 + header_size;
  const uint64_t buffer_size = file_size - data_start;
  std::vector<ParsedTensor> tensors;
  for (const auto& item : header.items()) {
    const std::string& key = item.key();
    const json& value = item.value();
    if (key == "__metadata__") {
      if (!value.is_object()) header_error(path, key, "is not an object of strings");
      for (const auto& m : value.items()) {
        if (!m.value().is_string()) {
          header_error(path, key + "." + m.key(), "metadata value is not a string");
        }
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    tensors.push_back(parse_entry(path, key, value, buffer_size));
  }

  // Overlap check on ranges sorted by start; empty tensors occupy no bytes and cannot overlap.
  std::vector<const ParsedTensor*> order;
  for (const ParsedTensor& t : tensors) {
    if (t.end > t.begin) order.push_back(&t);
  }
  std::sort(order.begin(), order.end(), [](const ParsedTensor* a, const ParsedTensor* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->name < b->name;
  });
  for (size_t i = 1; i < order.size(); ++i) {
    if (order[i]->begin < order[i - 1]->end) {
      header_error(path, order[i]->name,
                   "data_offsets [" + std::to_string(order[i]->begin) + ", " +
                       std::to_string(order[i]->end) + "] overlap those of '" +
                       excerpt(order[i - 1]->name) + "' [" + std::to_string(order[i - 1]->begin) + ", " +
                       std::to_string(order[i - 1]->end) + "]");
    }
  }

  for (ParsedTensor& t : tensors) {
    Entry e;
    e.info.dtype = t.dtype->name;
    e.info.scalar_type = t.dtype->scalar_type;
    e.info.shape = std::move(t.shape);
    e.info.byte_size = static_cast<int64_t>(t.end - t.begin);
    e.begin = data_start + t.begin;
    entries_.emplace(t.name, std::move(e));
  }
}

SafetensorsFile::~SafetensorsFile() = default;

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& kv : entries_) out.push_back(kv.first);
  return out;
}

bool SafetensorsFile::contains(const std::string& name) const { return entries_.count(name) > 0; }

const SafetensorsFile::Entry& SafetensorsFile::entry(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    std::string msg = path_ + ": no tensor named '" + excerpt(name) + "'";
    const std::string guess = closest_match(name, names());
    if (!guess.empty()) msg += "; did you mean '" + guess + "'?";
    throw RuntimeError(msg);
  }
  return it->second;
}

SafetensorsReader::TensorInfo SafetensorsFile::info(const std::string& name) const {
  return entry(name).info;
}

at::Tensor SafetensorsFile::get(const std::string& name) const {
  const Entry& e = entry(name);
  const auto options = at::TensorOptions().dtype(e.info.scalar_type).device(at::kCPU);
  if (e.info.byte_size == 0) return at::empty(e.info.shape, options);
  uint8_t* data = static_cast<uint8_t*>(mapping_->addr) + e.begin;
  const auto element_size = static_cast<uintptr_t>(find_dtype(e.info.dtype)->element_size);
  if (reinterpret_cast<uintptr_t>(data) % element_size != 0) {
    // Misaligned typed access is undefined behaviour; pay for a copy instead.
    at::Tensor out = at::empty(e.info.shape, options);
    std::memcpy(out.data_ptr(), data, static_cast<size_t>(e.info.byte_size));
    return out;
  }
  std::shared_ptr<Mapping> keep_alive = mapping_;
  return at::from_blob(data, e.info.shape, [keep_alive](void*) {}, options);
}

std::unique_ptr<SafetensorsReader> open_safetensors(const std::string& path) {
  return std::make_unique<SafetensorsFile>(path);
}

// ---------------------------------------------------------------------------------------------
// Writer

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<SafetensorsEntry> entries;
  entries.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) entries.push_back({name, tensor, ""});
  write_safetensors_entries(path, entries, metadata);
}

void write_safetensors_entries(const std::string& path, const std::vector<SafetensorsEntry>& tensors,
                               const std::map<std::string, std::string>& metadata) {
  struct Planned {
    const SafetensorsEntry* src;
    const DtypeSpec* dtype;
    uint64_t bytes;
    uint64_t begin;
  };
  std::vector<Planned> plan;
  std::set<std::string> names;
  for (const SafetensorsEntry& e : tensors) {
    const std::string where = path + ": tensor '" + e.name + "'";
    if (e.name.empty() || e.name == "__metadata__") {
      throw UsageError(where + ": name is reserved or empty");
    }
    if (!names.insert(e.name).second) throw UsageError(where + ": name given more than once");
    if (!e.tensor.defined()) throw UsageError(where + ": tensor is undefined");
    const DtypeSpec* own = dtype_for(e.tensor.scalar_type());
    if (!own) {
      throw UsageError(where + ": dtype " + std::string(c10::toString(e.tensor.scalar_type())) +
                       " cannot be stored in safetensors");
    }
    const DtypeSpec* dtype = own;
    if (!e.dtype.empty() && e.dtype != own->name) {
      dtype = find_dtype(e.dtype);
      const bool float8_bytes = dtype && std::string(dtype->name).rfind("F8_", 0) == 0 &&
                                e.tensor.scalar_type() == at::kByte;
      if (!float8_bytes) {
        throw UsageError(where + ": cannot store a " +
                         std::string(c10::toString(e.tensor.scalar_type())) + " tensor as '" +
                         e.dtype + "' (only uint8 tensors may be tagged F8_E4M3/F8_E5M2)");
      }
    }
    const uint64_t bytes =
        static_cast<uint64_t>(e.tensor.numel()) * static_cast<uint64_t>(dtype->element_size);
    plan.push_back({&e, dtype, bytes, 0});
  }
  // Largest elements first, so with an 8-aligned buffer start every tensor is naturally aligned.
  std::sort(plan.begin(), plan.end(), [](const Planned& a, const Planned& b) {
    if (a.dtype->element_size != b.dtype->element_size) {
      return a.dtype->element_size > b.dtype->element_size;
    }
    return a.src->name < b.src->name;
  });

  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (Planned& p : plan) {
    p.begin = offset;
    offset += p.bytes;
    header[p.src->name] = {{"dtype", p.dtype->name},
                           {"shape", p.src->tensor.sizes().vec()},
                           {"data_offsets", json::array({p.begin, offset})}};
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {
    throw UsageError(path + ": tensor names and metadata must be valid UTF-8: " + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // as the reference writer pads

  TempFile tmp;
  tmp.path = path + ".tmp-" + std::to_string(::getpid());
  tmp.signal_slot = register_partial_file(tmp.path);
  tmp.fd = ::open(tmp.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (tmp.fd < 0) {
    const int err = errno;
    tmp.keep = true;  // nothing was created
    throw RuntimeError(tmp.path + ": cannot create file: " + std::strerror(err));
  }
  const uint64_t header_size = text.size();
  write_all(tmp.fd, &header_size, 8, tmp.path);
  write_all(tmp.fd, text.data(), text.size(), tmp.path);
  for (const Planned& p : plan) {
    // One tensor at a time, so a model on the GPU never needs a full second copy in host memory.
    const at::Tensor cpu = p.src->tensor.to(at::kCPU).contiguous();
    if (p.bytes > 0) write_all(tmp.fd, cpu.data_ptr(), p.bytes, tmp.path);
  }
  if (::fsync(tmp.fd) != 0) {
    throw RuntimeError(tmp.path + ": fsync failed: " + std::strerror(errno));
  }
  const int fd = tmp.fd;
  tmp.fd = -1;
  if (::close(fd) != 0) throw RuntimeError(tmp.path + ": close failed: " + std::strerror(errno));
  if (::rename(tmp.path.c_str(), path.c_str()) != 0) {
    throw RuntimeError(path + ": cannot rename " + tmp.path + " into place: " +
                       std::strerror(errno));
  }
  tmp.keep = true;
}

}  // namespace pqlab
