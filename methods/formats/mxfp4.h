// MXFP4 fake quantization (OCP MX v1.0, methods.md 9.5): E2M1 elements with one E8M0
// (power-of-two) scale per 32 consecutive elements along K. Declared here so tests can construct
// it directly.
#pragma once
#include <string>

#include "framework/config/config_io.h"
#include "framework/interfaces/number_format.h"
#include "framework/registry/registry.h"
#include "methods/formats/grouping.h"

namespace pqlab::methods {

struct Mxfp4Config {
  config::GroupSize group_size{32};
  std::string scale_mode = "floor";
  bool pad = false;

  template <class IO>
  static void map(IO& io, Mxfp4Config& c) {
    io.field("group_size", c.group_size,
             "elements per E8M0 block scale along the last axis (32 is the OCP MX standard; "
             "other even sizes are for experiments)");
    io.field("scale_mode", c.scale_mode,
             "floor: X = floor(log2 amax) - 2 (OCP spec, torchao default; amax may clip to 6); "
             "rceil: X = ceil(log2(amax/6)) (hardware cvt.rp, TE, ModelOpt; never clips)",
             config::one_of({"floor", "rceil"}));
    io.field("pad", c.pad, "zero-pad the last block when K is not a multiple of group_size");
    io.check(c.group_size.value > 0 && c.group_size.value % 2 == 0, "group_size",
             "mxfp4 group_size must be a positive even integer (two E2M1 codes per byte)");
  }
};

class Mxfp4Format final : public ConfiguredPlugin<NumberFormat, Mxfp4Config> {
 public:
  explicit Mxfp4Format(const Mxfp4Config& c);
  std::string describe() const override;
  double bits_per_element() const override;
  at::Tensor fake_quant(const at::Tensor& x) const override;
  /// codes: uint8 [rows, Kp/2] packed E2M1 (element 2i low nibble); scales: uint8 E8M0 bytes
  /// [rows, Kp/G] (value 2^(byte-127)). Throws RuntimeError on NaN input.
  EncodedTensor encode(const at::Tensor& x) const override;
  at::Tensor decode(const EncodedTensor& e) const override;
  at::Tensor fake_quant_ref(const at::Tensor& x) const override;
};

}  // namespace pqlab::methods
