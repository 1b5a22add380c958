// A number format (INT-k, FP8 E4M3, NVFP4, MXFP4, ...) quantizing along the last axis in groups.
// Every format has a fast tensor path (ATen ops; CPU and CUDA) and a slow scalar reference that
// follows the exact order of FP32 operations of the implementation it is bit-exact against.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pqlab {
namespace config { class ConfigIo; }

/// Codes and scales of a tensor quantized along its last axis, viewed as [rows, K].
struct EncodedTensor {
  /// 4-bit formats: uint8 [rows, Kp/2], element 2i in the low nibble, 2i+1 in the high nibble
  /// (TransformerEngine / PTX operand order). 8-bit formats: int8 (int) or uint8 (fp8) [rows, Kp].
  at::Tensor codes;
  /// [rows, groups] (per-tensor: [1, 1]): float32 for int/fp8; uint8 raw E4M3 bytes (nvfp4) or
  /// E8M0 bytes (mxfp4). For nvfp4 with a global scale the true scale is byte * global_scale.
  at::Tensor scales;
  at::Tensor zero_points;   ///< int32 [rows, groups] for asymmetric int; undefined otherwise
  at::Tensor global_scale;  ///< float32 [] (nvfp4 S_dec = amax / (448*6)); undefined otherwise
  std::vector<int64_t> shape;  ///< original shape
  at::ScalarType dtype = at::kFloat;  ///< original dtype (decode returns it)
  int64_t group_size = 0;      ///< effective elements per group along K (Kp for per-row)
  int64_t padded_k = 0;        ///< K rounded up to a whole group (== K unless padding was used)
};

class NumberFormat {
 public:
  virtual ~NumberFormat() = default;
  virtual void map_config(config::ConfigIo& io) = 0;
  /// Short label for tables, e.g. "int4 g64 sym", "nvfp4 g16".
  virtual std::string describe() const = 0;
  /// Storage cost per element including scales (for reporting), e.g. 4.5 for nvfp4.
  virtual double bits_per_element() const = 0;

  /// Quantize-dequantize in one pass. x: [..., K], float32/bfloat16/float16, any device.
  /// Math runs in float32; the result has x's shape, dtype and device.
  /// Throws UsageError when K is not a multiple of the group size and padding is off.
  virtual at::Tensor fake_quant(const at::Tensor& x) const = 0;
  /// x as for fake_quant. decode(encode(x)) == fake_quant(x) bit for bit.
  virtual EncodedTensor encode(const at::Tensor& x) const = 0;
  virtual at::Tensor decode(const EncodedTensor& e) const = 0;
  /// Scalar reference: plain loops in float32 in the documented order of operations.
  /// x: float32 CPU [..., K]; returns float32 CPU of the same shape.
  virtual at::Tensor fake_quant_ref(const at::Tensor& x) const = 0;
};

}  // namespace pqlab
