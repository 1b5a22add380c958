// Shared grouping for the number formats: views x [..., K] as float32 [R, Gn, G] groups along the
// last axis (a positive group size G, the whole row, or the whole tensor), with optional zero
// padding of the last group, and the inverse. Also the finite-only amax used by every format's
// scale (NaN/Inf policy: scales come from finite values only).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "framework/config/config_io.h"
#include "framework/interfaces/number_format.h"

namespace pqlab::methods {

/// x [..., K] as groups. Per-row and positive group sizes: R = rows, Gn = Kp / G. Per-tensor:
/// R = Gn = 1 and G = rows * K (scales then have shape [1, 1]).
struct GroupedView {
  at::Tensor x;                  ///< float32, contiguous [R, Gn, G], zero-padded; x's device
  std::vector<int64_t> shape;    ///< original shape
  at::ScalarType dtype = at::kFloat;  ///< original dtype
  int64_t rows = 0;              ///< product of shape[:-1]
  int64_t k = 0;                 ///< shape[-1]
  int64_t padded_k = 0;          ///< K rounded up to whole groups (== K unless padding was used)
  int64_t group_size = 0;        ///< G
  int64_t groups = 0;            ///< Gn (groups per row; 1 for per-row and per-tensor)
  bool per_tensor = false;

  /// x as float32 [rows, Kp] (a view).
  at::Tensor as_rows() const { return x.reshape({rows, padded_k}); }

  /// An EncodedTensor with this view's geometry filled in (shape, dtype, group size, padded K);
  /// the format adds codes and scales.
  EncodedTensor encoding() const {
    EncodedTensor e;
    e.shape = shape;
    e.dtype = dtype;
    e.group_size = per_tensor ? padded_k : group_size;
    e.padded_k = padded_k;
    return e;
  }
};

/// Groups x (float32, bfloat16 or float16, any device, dim >= 1) along its last axis. Throws
/// UsageError "<format>: last dimension K=100 is not a multiple of group_size 64 (set pad: true to
/// zero-pad the last group)" when K % G != 0 and !pad, and for unsupported dtypes or 0-dim x.
/// With pad, the last group is zero-padded (zeros never change an amax).
GroupedView group_last_dim(const at::Tensor& x, const config::GroupSize& group_size, bool pad,
                           const std::string& format);

/// Inverse of group_last_dim: y float32 with g.x's element layout ([R, Gn, G] or [rows, Kp])
/// back to the original shape (padding stripped) and dtype (rounded to nearest even when
/// bf16/fp16).
at::Tensor ungroup(const at::Tensor& y, const GroupedView& g);
/// The same from stored metadata: rows_kp float32 [rows, Kp] -> shape / dtype.
at::Tensor restore_shape(const at::Tensor& rows_kp, const std::vector<int64_t>& shape,
                         at::ScalarType dtype);

/// Decoded values [rows, Kp] viewed as [Sr, Sg, G] to match scales [Sr, Sg] (per-group/per-row:
/// [rows, Gn]; per-tensor: [1, 1]). group_size is only used when the tensor is empty.
at::Tensor as_groups(const at::Tensor& rows_kp, const at::Tensor& scales, int64_t group_size);

/// |x| with NaN and ±inf replaced by 0 (float32).
at::Tensor finite_abs(const at::Tensor& x);
/// Max |x| over the finite elements of x along `dim` (0 when there are none), float32.
at::Tensor finite_amax(const at::Tensor& x, int64_t dim);
/// Max |x| over all finite elements (0-dim float32 tensor on x's device).
at::Tensor finite_amax(const at::Tensor& x);
/// Scalar reference of finite_amax over n contiguous floats.
float finite_amax(const float* p, int64_t n);

/// Throws RuntimeError naming the first NaN element of x (index into x's original shape) when x
/// holds NaN: "<format>: cannot encode NaN at index [0, 5] (the format has no NaN code)".
void throw_if_nan(const at::Tensor& x, const std::string& format);

/// A 0-dim float32 tensor holding v on like's device. Divide CUDA tensors only by device tensors:
/// PyTorch's CUDA div by a CPU scalar multiplies by the reciprocal instead (not IEEE division).
at::Tensor scalar_like(const at::Tensor& like, float v);

/// "g64", "channel" or "tensor", for describe().
std::string group_label(const config::GroupSize& group_size);
/// True for a valid group size: positive, kRow or kTensor.
inline bool valid_group_size(const config::GroupSize& g) {
  return g.value > 0 || g.is_row() || g.is_tensor();
}

}  // namespace pqlab::methods
