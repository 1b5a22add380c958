// The best rank-r approximation W ~ B A of a weight (SVDQuant's 16-bit low-rank branch,
// methods.md 2.3): exact through LAPACK / cuSOLVER, or randomised (Halko, Martinsson and Tropp
// 2011: a Gaussian range finder with power iterations) where an exact SVD of every FLUX layer at
// every search candidate would cost minutes. Both run in float64.
// Tests: tests/framework/quant/low_rank_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace pqlab {

struct LowRank {
  at::Tensor a;  ///< [r, K] = V_r^T (orthonormal rows)
  at::Tensor b;  ///< [N, r] = U_r Sigma_r
};

enum class SvdMode { exact, randomized };

/// w: [N, K], any float dtype and device; 1 <= rank <= min(N, K) (UsageError otherwise). Returns
/// float64 factors on w's device with w ~ b a. randomized: rank + oversample Gaussian probes
/// (seeded), `power_iters` QR-stabilised power iterations; its Frobenius residual is within a
/// stated tolerance of the exact one (low_rank_test: 1e-6 relative on a decaying spectrum, 2% on
/// a flat Gaussian one, with the defaults).
LowRank truncated_svd(const at::Tensor& w, int64_t rank, SvdMode mode, uint64_t seed = 0, int64_t power_iters = 4,
                      int64_t oversample = 16);

}  // namespace pqlab
