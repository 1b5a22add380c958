// Per-column statistics of a matrix of layer inputs, accumulated in place: the calibration
// stage's inner loop (framework/experiment/calibration.cpp), run at every quantized layer of every
// calibration call. On CUDA it is one fused pass over the input (framework/stats/column_stats.cu,
// when the build has nvcc): ATen's column reductions read the input five times and cost a FLUX
// step 0.66x on an H200; the fused pass reads it once.
// Tests: tests/framework/stats/column_stats_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

namespace pqlab {

/// Adds the statistics of the rows of x to the accumulators:
///   sum[k] += sum_r x[r, k],  sumsq[k] += sum_r x[r, k]^2,  absmax[k] = max(absmax[k], max_r |x[r, k]|)
/// x: [R, K] float32, bfloat16 or float16 (any strides). sum, sumsq, absmax: [K] float64 on x's
/// device. Squares of 16-bit inputs are exact in float32 and those of float32 inputs in float64;
/// sums accumulate in float64. NaN propagates into absmax, as at::amax.
void accumulate_column_stats(const at::Tensor& x, at::Tensor& sum, at::Tensor& sumsq, at::Tensor& absmax);

/// Whether accumulate_column_stats runs the fused CUDA kernel for CUDA inputs (false: ATen ops,
/// e.g. a build without nvcc).
bool column_stats_fused_cuda();

}  // namespace pqlab
