// The Frechet distance between two Gaussians (the FID formula), shared by the `frechet_distance`
// metric (feature matrices), the `classifier_fd` image metric (stored reference moments) and the
// classifier training that stores those moments. Tests: tests/metrics/frechet_distance_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <utility>

namespace pqlab {

/// d^2 = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), in float64.
/// mu: [D]; s: [D, D] symmetric PSD (symmetrized here). Any float dtype and device.
/// Throws RuntimeError on mismatched shapes or a failed eigendecomposition.
double frechet_distance(const at::Tensor& mu1, const at::Tensor& s1, const at::Tensor& mu2, const at::Tensor& s2);

/// Mean [D] and unbiased (N - 1) covariance [D, D], float64 on the CPU, of feature rows [N, D].
/// Throws RuntimeError unless N >= 2.
std::pair<at::Tensor, at::Tensor> feature_moments(const at::Tensor& features);

}  // namespace pqlab
