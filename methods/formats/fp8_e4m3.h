// FP8 E4M3 ("E4M3FN", OCP) fake quantization, methods.md 9.2: optionally scaled per group
// (s = amax/448), always saturating to ±448. Declared here so tests can construct it directly.
#pragma once
#include "framework/config/config_io.h"
#include "framework/interfaces/number_format.h"
#include "framework/registry/registry.h"
#include "methods/formats/grouping.h"

namespace pqlab::methods {

struct Fp8E4m3Config {
  config::GroupSize group_size{config::GroupSize::kTensor};
  bool scaled = true;
  bool pad = false;

  template <class IO>
  static void map(IO& io, Fp8E4m3Config& c) {
    io.field("group_size", c.group_size,
             "elements per scale along the last axis: a positive integer, 'channel' or 'tensor' "
             "(ignored when scaled is false)");
    io.field("scaled", c.scaled,
             "true: s = amax/448 per group and x/s is cast; false: plain saturating cast of x");
    io.field("pad", c.pad, "zero-pad the last group when K is not a multiple of group_size");
    io.check(valid_group_size(c.group_size), "group_size",
             "group_size must be a positive integer, 'channel' or 'tensor'");
  }
};

class Fp8E4m3Format final : public ConfiguredPlugin<NumberFormat, Fp8E4m3Config> {
 public:
  explicit Fp8E4m3Format(const Fp8E4m3Config& c);
  std::string describe() const override;
  double bits_per_element() const override;
  at::Tensor fake_quant(const at::Tensor& x) const override;
  /// codes: uint8 E4M3 bytes [rows, Kp] (NaN -> 0x7F|sign); scales: float32 [R, Gn] (s; [1, 1]
  /// holding 1 when unscaled).
  EncodedTensor encode(const at::Tensor& x) const override;
  at::Tensor decode(const EncodedTensor& e) const override;
  at::Tensor fake_quant_ref(const at::Tensor& x) const override;
};

}  // namespace pqlab::methods
