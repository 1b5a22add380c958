// Fuzzes FLUX checkpoint loading as `pqlab forward` and the flux adapter do it: checkpoint path
// resolution (single file or sharded index), key-format detection, parameter inference from
// tensor shapes, config.json cross-checks, and the BFL/diffusers weight mapping
// (load_flux_transformer). Raw safetensors bytes are safetensors_header_fuzz's job; here the
// input is the JSON header only and the tensor data is synthesized (zeros), so mutations spend
// their time on names, shapes and dtypes.
// Input: safetensors header JSON [#--- config.json [#--- index.json]]. With an index part, the
// weights are written as shard.safetensors next to model.safetensors.index.json; otherwise as
// model.safetensors.
#include <ATen/ATen.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "framework/core/error.h"
#include "framework/io/json_limits.h"
#include "models/flux/flux_transformer.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

// Largest data buffer synthesized: the reader is fuzzed, not the disk.
constexpr uint64_t kMaxDataBytes = 4u << 20;

// The end of the data buffer the header asks for (0 when it is not JSON we can read).
uint64_t data_size(const std::string& header) {
  uint64_t end = 0;
  if (!pqlab::json_depth_error(header).empty()) return 0;  // the harness must not recurse deeply either
  const nlohmann::json j = nlohmann::json::parse(header, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return 0;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_object()) continue;
    const auto it = v.find("data_offsets");
    if (it == v.end() || !it->is_array() || it->size() != 2 || !(*it)[1].is_number_unsigned()) continue;
    end = std::max(end, (*it)[1].get<uint64_t>());
  }
  return std::min(end, kMaxDataBytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pqlab;
  const std::vector<std::string> parts = fuzz::split_parts(data, size);
  static const std::string dir = [] {
    const std::string d = fuzz::scratch_dir() + "/ckpt";
    create_directories(d);
    return d;
  }();
  for (const std::string& f : list_directory(dir)) std::remove(path_join(dir, f).c_str());

  const std::string& header = parts[0];
  std::string file(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) file[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  file += header;
  file.append(data_size(header), '\0');
  const bool sharded = parts.size() > 2;
  fuzz::write_file(path_join(dir, sharded ? "shard.safetensors" : "model.safetensors"), file);
  if (parts.size() > 1 && !parts[1].empty()) fuzz::write_file(path_join(dir, "config.json"), parts[1]);
  if (sharded) fuzz::write_file(path_join(dir, "model.safetensors.index.json"), parts[2]);

  try {
    (void)models::load_flux_transformer(dir, at::kFloat, at::kCPU, {});
  } catch (const Error& e) {
    fuzz::expected_error(e);
  } catch (const std::exception& e) {
    fuzz::foreign_exception(e);
  }
  return 0;
}
