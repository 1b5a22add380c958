// Sums of squares in float64 for the per-layer errors of the teacher-forced evaluation
// (framework/experiment/step_evaluation.cpp): at every quantized layer of every call it needs
// sum (a - b)^2 and sum b^2 of two layer outputs. On CUDA one fused pass reads a and b once
// (framework/stats/sq_error.cu, when the build has nvcc) instead of ATen's float64 copies,
// difference and square (five passes over twice the bytes, ~0.1 s of a 1024x1024 FLUX step).
// Tests: tests/framework/stats/sq_error_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

namespace pqlab {

/// err += sum((a - b)^2) and, when ref is defined, ref += sum(b^2), over every element, formed
/// and summed in float64. a: undefined (then only ref is updated) or b's shape, dtype and device;
/// b: float32, bfloat16 or float16. err, ref: one-element float64 tensors (e.g. errors[k][s]) on
/// b's device, updated in place with no host synchronisation.
void accumulate_sq_error(const at::Tensor& a, const at::Tensor& b, const at::Tensor& err, const at::Tensor& ref);

}  // namespace pqlab
