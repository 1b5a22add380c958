// Hadamard matrices and the fast Walsh-Hadamard transform, for rotation methods (QuaRot's online
// rotation, ConvRot's block-diagonal regular Hadamard, PermuQuant-H). Written by hand: no Debian
// package builds Hadamard matrices of non-power-of-two order or applies them along a tensor axis.
// Orders K = m * 2^n are built as H_m (x) H_{2^n} like QuaRot's get_hadK, but H_m comes from
// Paley's constructions instead of QuaRot's stored tables (any Hadamard matrix serves: the
// rotation only has to be orthogonal and spread outliers; methods.md 4.1). Paley I gives
// m = q + 1 for a prime q = 3 mod 4 (12, 20, 60, 108, 140, ...), Paley II m = 2(q + 1) for a prime
// q = 1 mod 4 (28, 36, ...); FLUX's 3072 = 12 * 256, 12288 = 12 * 1024, 15360 = 60 * 256.
// Tests: tests/framework/quant/hadamard_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace pqlab {

/// K = m * 2^n with H_m available; m is the smallest such factor (a cheaper dense part).
struct HadamardOrder {
  int64_t m = 1;     ///< the dense (Paley or 1) factor
  int64_t pow2 = 1;  ///< the Sylvester factor 2^n
  std::string describe() const;  ///< "12x256", or "256" when m == 1
};

/// The factorisation used for order k; UsageError naming k when there is none (e.g. 52, 156).
HadamardOrder hadamard_order(int64_t k);
/// Whether hadamard_order(k) succeeds.
bool has_hadamard(int64_t k);

/// An unnormalised Hadamard matrix of order m (entries +-1, H H^T = m I): float64 [m, m] on the CPU.
/// m must be 1, 2^n, a Paley order, or a power of two times one. UsageError otherwise.
at::Tensor hadamard_matrix(int64_t m);

/// ConvRot's regular Hadamard of order n = 4^k: H4 = [[1,1,1,-1],[1,1,-1,1],[1,-1,1,1],[-1,1,1,1]],
/// H_{4^k} = H4 (x) H_{4^(k-1)}; symmetric, every row sums to 2^k = sqrt(n), so a constant vector
/// is not turned into a spike. Unnormalised float64 [n, n] on the CPU; UsageError unless n = 4^k.
at::Tensor regular_hadamard_matrix(int64_t n);

/// x H_{2^n} along the last dimension (unnormalised Sylvester order, length a power of two), in
/// x's dtype: log2(L) butterflies, O(L log L) per row.
at::Tensor fwht_last(const at::Tensor& x);

/// x H_K / sqrt(K) along the last dimension with the factorisation of hadamard_order(K): an
/// orthogonal, symmetric-up-to-factor-order rotation. Computed in x's dtype.
at::Tensor hadamard_transform_last(const at::Tensor& x);

}  // namespace pqlab
