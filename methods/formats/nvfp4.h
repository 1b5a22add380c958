// NVFP4 fake quantization (methods.md 9.4): E2M1 elements, one E4M3 scale per 16 consecutive
// elements along K, and (by default) an fp32 per-tensor scale, in TransformerEngine's exact order
// of fp32 operations. Declared here so tests can construct it directly.
#pragma once
#include <string>

#include "framework/config/config_io.h"
#include "framework/interfaces/number_format.h"
#include "framework/registry/registry.h"
#include "methods/formats/grouping.h"

namespace pqlab::methods {

struct Nvfp4Config {
  config::GroupSize group_size{16};
  std::string global_scale = "tensor";
  bool pad = false;

  template <class IO>
  static void map(IO& io, Nvfp4Config& c) {
    io.field("group_size", c.group_size,
             "elements per E4M3 block scale along the last axis (16 is the NVFP4 standard and "
             "what the hardware supports; other even sizes are for experiments)");
    io.field("global_scale", c.global_scale,
             "tensor: fp32 per-tensor scale amax/(448*6), TransformerEngine order (weights, "
             "static activations); none: block scale min(amax_block/6, 448) with no global "
             "scale, as nunchaku's dynamic activation quantization",
             config::one_of({"tensor", "none"}));
    io.field("pad", c.pad, "zero-pad the last block when K is not a multiple of group_size");
    io.check(c.group_size.value > 0 && c.group_size.value % 2 == 0, "group_size",
             "nvfp4 group_size must be a positive even integer (two E2M1 codes per byte)");
  }
};

class Nvfp4Format final : public ConfiguredPlugin<NumberFormat, Nvfp4Config> {
 public:
  explicit Nvfp4Format(const Nvfp4Config& c);
  std::string describe() const override;
  double bits_per_element() const override;
  at::Tensor fake_quant(const at::Tensor& x) const override;
  /// codes: uint8 [rows, Kp/2] packed E2M1 (element 2i low nibble); scales: uint8 E4M3 bytes
  /// [rows, Kp/G]; global_scale: float32 [] = S_dec = 1/S_enc (tensor mode; undefined for none).
  /// Throws RuntimeError on NaN input (E2M1 has no NaN code).
  EncodedTensor encode(const at::Tensor& x) const override;
  at::Tensor decode(const EncodedTensor& e) const override;
  at::Tensor fake_quant_ref(const at::Tensor& x) const override;
};

}  // namespace pqlab::methods
