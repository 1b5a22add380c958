// Fuzzes pqlab's HDF5 result layer: the input is a program of H5Writer calls (paths, attribute
// names and values of every type, datasets of every dtype and shape, string lists) that is
// committed and then read back with H5Reader, as `pqlab inspect` does: list(), attrs(), read(),
// read_strings(). Every value written must read back equal (a mismatch traps).
//
// Why not raw .h5 bytes by default: the HDF5 C library parses the file format, is not
// instrumented, and crashes on corrupt files within seconds (e.g. an invalid free in
// H5G__link_release_table from H5Lget_name_by_idx, libhdf5 1.10.8); nothing in pqlab can guard
// against that, so result files are trusted input (README). PQLAB_FUZZ_HDF5_RAW=1 fuzzes raw
// bytes through H5Reader anyway, to look at libhdf5.
// PQLAB_FUZZ_MAKE_SEEDS=<dir> writes two small result files (raw-mode seeds) and exits.
#include <ATen/ATen.h>
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "framework/core/error.h"
#include "framework/io/hdf5_file.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace pqlab;

void check(bool ok) {
  if (!ok) __builtin_trap();  // a value did not read back as written
}

// Object path from a few components: common names, odd ones ("." and ".." are HDF5 syntax,
// "" gives "//"), or random bytes.
std::string make_path(FuzzedDataProvider& in, bool* plain) {
  static const char* const kParts[] = {"layers", "w4a4", "output", "block.0", "", ".", "..", " ", "a b"};
  std::string p = in.ConsumeBool() ? "/" : "";
  const int n = in.ConsumeIntegralInRange(0, 3);
  for (int i = 0; i < n; ++i) {
    std::string part = in.ConsumeBool() ? kParts[in.ConsumeIntegralInRange<size_t>(0, std::size(kParts) - 1)]
                                        : in.ConsumeRandomLengthString(12);
    if (part == "." || part == ".." || part.find('\0') != std::string::npos) *plain = false;
    p += (i ? "/" : "") + part;
  }
  return p;
}

std::string normalized(const std::string& path) {
  std::string out, part;
  for (char c : path + "/") {
    if (c != '/') { part += c; continue; }
    if (!part.empty()) out += "/" + part;
    part.clear();
  }
  return out.empty() ? "/" : out;
}

at::Tensor make_tensor(FuzzedDataProvider& in) {
  static const at::ScalarType kTypes[] = {at::kFloat, at::kDouble, at::kChar, at::kShort, at::kInt,
                                          at::kLong, at::kByte, at::kBool, at::kHalf, at::kBFloat16};
  const at::ScalarType st = kTypes[in.ConsumeIntegralInRange<size_t>(0, std::size(kTypes) - 1)];
  std::vector<int64_t> shape(in.ConsumeIntegralInRange(0, 3));
  for (auto& d : shape) d = in.ConsumeIntegralInRange(0, 4);
  at::Tensor t = at::empty(shape, at::dtype(st));
  const size_t bytes = static_cast<size_t>(t.numel()) * t.element_size();
  const std::vector<uint8_t> raw = in.ConsumeBytes<uint8_t>(bytes);
  if (!raw.empty()) std::memcpy(t.data_ptr(), raw.data(), raw.size());
  if (raw.size() < bytes) std::memset(static_cast<uint8_t*>(t.data_ptr()) + raw.size(), 0, bytes - raw.size());
  if (st == at::kBool) t = t.view(at::kByte).remainder(2).to(at::kBool);  // only 0/1 are valid bools
  return t;
}

bool same_double(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

int structured(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  static const std::string path = fuzz::scratch_dir() + "/r.h5";
  // What must read back: attributes by (object, name) as a checker, datasets by path.
  std::map<std::pair<std::string, std::string>, std::function<bool(const std::string&)>> attrs;
  std::map<std::string, at::Tensor> tensors;
  std::map<std::string, std::vector<std::string>> strings;
  {
    H5Writer w(path);
    for (int op = 0; op < 12 && in.remaining_bytes() > 0; ++op) {
      bool plain = true;
      const std::string obj = make_path(in, &plain);
      const int kind = in.ConsumeIntegralInRange(0, 6);
      std::string name = kind <= 3 ? in.ConsumeRandomLengthString(10) : "";
      if (name.find('\0') != std::string::npos) plain = false;
      try {
        switch (kind) {
          case 0: {
            const std::string v = in.ConsumeRandomLengthString(40);
            w.set_attr(obj, name, v);
            if (v.find('\0') == std::string::npos) attrs[{normalized(obj), name}] = [v](const std::string& s) { return s == v; };
            else attrs.erase({normalized(obj), name});
            break;
          }
          case 1: {
            const double v = in.ConsumeFloatingPoint<double>();
            w.set_attr(obj, name, v);
            attrs[{normalized(obj), name}] = [v](const std::string& s) { return same_double(std::strtod(s.c_str(), nullptr), v); };
            break;
          }
          case 2: {
            const int64_t v = in.ConsumeIntegral<int64_t>();
            w.set_attr(obj, name, v);
            attrs[{normalized(obj), name}] = [v](const std::string& s) { return s == std::to_string(v); };
            break;
          }
          case 3: {
            std::vector<double> v(in.ConsumeIntegralInRange(0, 4));
            for (double& x : v) x = in.ConsumeFloatingPoint<double>();
            w.set_attr(obj, name, v);
            attrs[{normalized(obj), name}] = [v](const std::string& s) {
              if (s.size() < 2 || s.front() != '[' || s.back() != ']') return false;
              const char* p = s.c_str() + 1;
              for (size_t i = 0; i < v.size(); ++i) {
                char* end = nullptr;
                if (!same_double(std::strtod(p, &end), v[i]) || end == p) return false;
                p = end + (i + 1 < v.size() ? 2 : 0);
              }
              return *p == ']';
            };
            break;
          }
          case 4: {
            const at::Tensor t = make_tensor(in);
            w.write(obj, t);
            tensors[normalized(obj)] = t;
            break;
          }
          case 5: {
            std::vector<std::string> v(in.ConsumeIntegralInRange(0, 4));
            for (auto& s : v) {
              s = in.ConsumeRandomLengthString(20);
              if (s.find('\0') != std::string::npos) plain = false;
            }
            w.write_strings(obj, v);
            strings[normalized(obj)] = v;
            break;
          }
          default:
            w.create_group(obj);
            break;
        }
      } catch (const Error& e) {
        fuzz::expected_error(e);
      }
      if (!plain) {  // "." / ".." / NUL bytes: HDF5 resolves or truncates them; no exact model
        attrs.clear();
        tensors.clear();
        strings.clear();
      }
    }
    w.commit();
  }

  H5Reader r(path);
  std::map<std::string, H5Reader::Entry> listed;
  for (const H5Reader::Entry& e : r.list()) listed[e.path] = e;
  for (const auto& [p, t] : tensors) {
    check(listed.count(p) && !listed[p].is_group && listed[p].shape == t.sizes().vec());
    const at::Tensor back = r.read(p);
    check(back.sizes() == t.sizes());
    if (t.is_floating_point()) {
      const at::Tensor a = t.to(at::kDouble), b = back.to(at::kDouble);
      check(((a == b) | (a.isnan() & b.isnan())).all().item<bool>());
    } else {
      check(at::equal(t.to(at::kLong), back.to(at::kLong)));
    }
  }
  for (const auto& [p, v] : strings) {
    check(listed.count(p) && listed[p].dtype == "string");
    check(r.read_strings(p) == v);
  }
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> rendered;
  for (const auto& [key, matches] : attrs) {
    if (!rendered.count(key.first)) rendered[key.first] = r.attrs(key.first);
    bool found = false;
    for (const auto& [n, text] : rendered[key.first])
      if (n == key.second) found = matches(text);
    check(found);
  }
  // Everything listed must be readable the way `pqlab inspect` reads it.
  for (const auto& [p, e] : listed) {
    (void)r.attrs(p);
    if (!e.is_group) (void)(e.dtype == "string" ? r.read_strings(p).size() : static_cast<size_t>(r.read(p).numel()));
  }
  return 0;
}

int raw(const uint8_t* data, size_t size) {
  static const std::string path = fuzz::scratch_dir() + "/raw.h5";
  fuzz::write_file(path, std::string(reinterpret_cast<const char*>(data), size));
  try {
    H5Reader r(path);
    (void)r.attrs("/");
    (void)r.exists("/variant_labels");
    for (const H5Reader::Entry& e : r.list()) {
      try {
        (void)r.attrs(e.path);
        if (e.is_group) continue;
        if (e.dtype == "string")
          (void)r.read_strings(e.path);
        else
          (void)r.read(e.path);
      } catch (const Error& e) {
        fuzz::expected_error(e);
      }
    }
  } catch (const Error& e) {
    fuzz::expected_error(e);
  } catch (const std::exception& e) {
    fuzz::foreign_exception(e);
  }
  return 0;
}

// Small result files shaped like `pqlab run` output, for raw mode.
void make_seeds(const std::string& dir) {
  {
    H5Writer w(dir + "/result.h5");
    w.set_attr("/", "pqlab_version", "0.1.0");
    w.set_attr("/", "seed", int64_t{7});
    w.set_attr("/", "threshold", 0.25);
    w.set_attr("/", "curve", std::vector<double>{1.0, -2.5, 1e-300});
    w.write_strings("/variant_labels", {"w4a4_int", "w8a8_nvfp4"});
    w.set_attr("/w4a4_int/output", "rel_mse", 0.01);
    w.write("/w4a4_int/layers/rel_mse", at::arange(6, at::kDouble).reshape({2, 3}));
    w.write("/w4a4_int/images", at::zeros({2, 2, 2}, at::kByte));
    w.write("/scalar", at::scalar_tensor(3, at::kLong));
    w.write("/mask", at::ones({3}, at::kBool));
    w.commit();
  }
  {
    H5Writer w(dir + "/empty.h5");
    w.create_group("/a/b");
    w.write("/a/none", at::empty({0}, at::kFloat));
    w.commit();
  }
}

bool raw_mode() {
  static const bool on = std::getenv("PQLAB_FUZZ_HDF5_RAW") && std::getenv("PQLAB_FUZZ_HDF5_RAW")[0] == '1';
  return on;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("PQLAB_FUZZ_MAKE_SEEDS")) {
    make_seeds(dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (raw_mode()) return raw(data, size);
  try {
    return structured(data, size);
  } catch (const Error& e) {
    // Writing and reading back a file made of accepted calls must not fail.
    std::fprintf(stderr, "unexpected error: %s\n", e.what());
    __builtin_trap();
  }
}
