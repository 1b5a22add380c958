#include "framework/quant/low_rank.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "framework/core/error.h"

namespace pqlab {

LowRank truncated_svd(const at::Tensor& w, int64_t rank, SvdMode mode, uint64_t seed, int64_t power_iters,
                      int64_t oversample) {
  if (w.dim() != 2) throw UsageError("low-rank approximation: the weight must be 2-D");
  const int64_t n = w.size(0), k = w.size(1);
  if (rank < 1 || rank > std::min(n, k))
    throw UsageError("low-rank approximation: rank " + std::to_string(rank) + " is not in [1, min(N, K) = " +
                     std::to_string(std::min(n, k)) + "] for a [" + std::to_string(n) + ", " + std::to_string(k) +
                     "] weight");
  const at::Tensor w64 = w.to(at::kDouble);
  const int64_t probes = std::min<int64_t>(rank + oversample, std::min(n, k));
  if (mode == SvdMode::exact || probes >= std::min(n, k)) {
    auto [u, s, vh] = at::linalg_svd(w64, false);
    return {vh.narrow(0, 0, rank).contiguous(), (u.narrow(1, 0, rank) * s.narrow(0, 0, rank)).contiguous()};
  }
  auto gen = at::detail::createCPUGenerator(seed);
  const at::Tensor omega = at::randn({k, probes}, gen, at::TensorOptions().dtype(at::kDouble)).to(w.device());
  at::Tensor q = std::get<0>(at::linalg_qr(at::matmul(w64, omega)));  // [N, l]
  for (int64_t i = 0; i < power_iters; ++i) {
    const at::Tensor z = std::get<0>(at::linalg_qr(at::matmul(w64.t(), q)));  // [K, l]
    q = std::get<0>(at::linalg_qr(at::matmul(w64, z)));
  }
  auto [ub, s, vh] = at::linalg_svd(at::matmul(q.t(), w64), false);  // [l, K] = Ub S Vh
  const at::Tensor u = at::matmul(q, ub);
  return {vh.narrow(0, 0, rank).contiguous(), (u.narrow(1, 0, rank) * s.narrow(0, 0, rank)).contiguous()};
}

}  // namespace pqlab
