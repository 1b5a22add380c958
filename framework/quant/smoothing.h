// SmoothQuant's per-channel migration of activation range into the weights, and the layer-output
// error that SmoothQuant's and SVDQuant's searches score candidates with (methods.md 2.2, 3.1).
// Tests: tests/framework/quant/smoothing_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>

namespace pqlab {

class NumberFormat;

/// s_j = max|X_j|^alpha / max|W_j|^beta (SmoothQuant: beta = 1 - alpha; SVDQuant's search also
/// tries beta = 0). act_absmax, weight_absmax: [K], any float dtype and device; both are clamped
/// to >= 1e-5 first (SmoothQuant clamps s itself; clamping the spans keeps a dead channel's s
/// finite and positive for either exponent). Returns float64 [K] on act_absmax's device, > 0.
at::Tensor smoothing_scales(const at::Tensor& act_absmax, const at::Tensor& weight_absmax, double alpha, double beta);

/// The error a layer makes on calibration rows, with everything a method put in place:
///   sum || X W^T - ( Q_A(TX) Q_W(W')^T + (TX) A^T B^T ) ||^2.
/// ref: float64 [R, N] = X W^T of the full-precision layer; tx: float32 [R, K] the transformed rows;
/// w: [N, K] the weight the quantizer sees (W' = W T^-1, or the residual after a low-rank branch);
/// a [r, K], b [N, r]: low-rank branch or undefined; act_format null = full-precision inputs,
/// weight_format null = W' taken as it is. Products and sums in float64 on ref's device.
double layer_output_error(const at::Tensor& ref, const at::Tensor& tx, const at::Tensor& w, const at::Tensor& a,
                          const at::Tensor& b, const std::shared_ptr<const NumberFormat>& weight_format,
                          const std::shared_ptr<const NumberFormat>& act_format);

}  // namespace pqlab
