// INT-b per-group quantization (methods.md 9.1): symmetric absmax (QuaRot, SVDQuant/nunchaku,
// ConvRot) or asymmetric min/max with a zero point (QuaRot, OmniQuant, GPTQ-style range).
// Declared here so tests can construct the format directly; registered in int.cpp.
#pragma once
#include <string>

#include "framework/config/config_io.h"
#include "framework/interfaces/number_format.h"
#include "framework/registry/registry.h"
#include "methods/formats/grouping.h"

namespace pqlab::methods {

struct IntConfig {
  int64_t bits = 4;
  bool symmetric = true;
  config::GroupSize group_size{64};
  bool pad = false;
  std::string scale_dtype = "fp32";

  template <class IO>
  static void map(IO& io, IntConfig& c) {
    io.field("bits", c.bits, "bit width b; codes are [-2^(b-1), 2^(b-1)-1] (symmetric) or "
             "[0, 2^b-1] (asymmetric)", config::in_range(2, 8));
    io.field("symmetric", c.symmetric,
             "true: s = amax/(2^(b-1)-1), no zero point; false: s = (max-min)/(2^b-1) with an "
             "integer zero point (the range always includes 0)");
    io.field("group_size", c.group_size,
             "elements per scale along the last axis: a positive integer, 'channel' (whole row) "
             "or 'tensor'");
    io.field("pad", c.pad, "zero-pad the last group when K is not a multiple of group_size "
             "(otherwise that is an error)");
    io.field("scale_dtype", c.scale_dtype,
             "dtype the scale is rounded to before use (nunchaku stores fp16 scales)",
             config::one_of({"fp32", "fp16", "bf16"}));
    io.check(valid_group_size(c.group_size), "group_size",
             "group_size must be a positive integer, 'channel' or 'tensor'");
  }
};

class IntFormat final : public ConfiguredPlugin<NumberFormat, IntConfig> {
 public:
  explicit IntFormat(const IntConfig& c);
  std::string describe() const override;
  double bits_per_element() const override;
  at::Tensor fake_quant(const at::Tensor& x) const override;
  /// codes: int8 [rows, Kp] (symmetric) or uint8 [rows, Kp] (asymmetric: q in [0, 2^b-1] does not
  /// fit int8 for b = 8); scales float32 [R, Gn] (already rounded to scale_dtype);
  /// zero_points int32 [R, Gn] (asymmetric only).
  EncodedTensor encode(const at::Tensor& x) const override;
  at::Tensor decode(const EncodedTensor& e) const override;
  at::Tensor fake_quant_ref(const at::Tensor& x) const override;
};

}  // namespace pqlab::methods
