// Fuzzes the safetensors reader: the u64 header length, the JSON header (dtypes, shapes,
// data_offsets, __metadata__) and the memory-mapped tensors it hands out.
// Input: the bytes of a .safetensors file.
#include <ATen/ATen.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "framework/core/error.h"
#include "framework/io/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pqlab;
  static const std::string path = fuzz::scratch_dir() + "/f.safetensors";
  fuzz::write_file(path, std::string(reinterpret_cast<const char*>(data), size));
  try {
    std::unique_ptr<SafetensorsReader> r = open_safetensors(path);
    for (const auto& [k, v] : r->metadata()) (void)(k.size() + v.size());
    for (const std::string& name : r->names()) {
      const SafetensorsReader::TensorInfo info = r->info(name);
      const at::Tensor t = r->get(name);
      if (t.sizes().vec() != info.shape || t.scalar_type() != info.scalar_type ||
          t.numel() * static_cast<int64_t>(t.element_size()) != info.byte_size)
        __builtin_trap();  // get() must return exactly what info() promised
      // Touch every byte: the tensor must lie inside the mapping (a stray offset faults here).
      const auto* p = static_cast<const uint8_t*>(t.data_ptr());
      uint8_t sum = 0;
      for (int64_t i = 0; i < info.byte_size; ++i) sum = static_cast<uint8_t>(sum + p[i]);
      (void)sum;
    }
    (void)r->contains("");
    try {
      (void)r->info("no such tensor");
      __builtin_trap();  // an absent tensor must be an error
    } catch (const Error&) {
    }
  } catch (const Error& e) {
    fuzz::expected_error(e);
  } catch (const std::exception& e) {
    fuzz::foreign_exception(e);
  }
  return 0;
}
