// Access to the tiny FLUX golden data (tests/data/flux_tiny_a, see its README) for tests. The data
// lives in the repository so that a clone alone runs every golden test; a missing file fails the
// test (a fixture that silently skips hides a broken checkout).
#pragma once
#include <ATen/ATen.h>

#include <string>

#include "framework/core/paths.h"
#include "framework/io/safetensors.h"
#include "models/flux/flux_transformer.h"

namespace pqlab::test {

inline std::string flux_golden_dir() { return std::string(PQLAB_TEST_DATA_DIR) + "/flux_tiny_a"; }
inline std::string flux_golden(const std::string& rel) { return flux_golden_dir() + "/" + rel; }
inline bool flux_golden_present() {
  return is_regular_file(flux_golden("fp32/weights_bfl.safetensors")) &&
         is_regular_file(flux_golden("fp32/weights_diffusers.safetensors")) &&
         is_regular_file(flux_golden("fp32/outputs.safetensors")) && is_regular_file(flux_golden("bf16/outputs.safetensors"));
}

#define PQLAB_REQUIRE_FLUX_GOLDEN()                                                                         \
  do {                                                                                                      \
    if (!::pqlab::test::flux_golden_present())                                                              \
      FAIL() << "FLUX golden data not found under " << ::pqlab::test::flux_golden_dir()              \
                   << " (expected fp32/weights_{bfl,diffusers}.safetensors and {fp32,bf16}/outputs.safetensors)"; \
  } while (0)

/// The golden inputs file as FluxInputs (tensors as stored: fp32, CPU).
inline models::FluxInputs flux_golden_inputs(const std::string& file) {
  SafetensorsFile f(file);
  models::FluxInputs x;
  x.img = f.get("img");
  x.img_ids = f.get("img_ids");
  x.txt = f.get("txt");
  x.txt_ids = f.get("txt_ids");
  x.y = f.get("y");
  x.timesteps = f.get("timesteps");
  x.guidance = f.get("guidance");
  return x;
}

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kCPU, at::kDouble) - b.to(at::kCPU, at::kDouble)).abs().max().item<double>();
}

}  // namespace pqlab::test
