// Truncated SVD (framework/quant/low_rank.h): the exact branch is the Eckart-Young optimum, the
// randomised one is within its stated tolerance of it, and ranks outside [1, min(N, K)] are errors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "framework/core/error.h"
#include "framework/quant/low_rank.h"
#include "tests/common/error_text.h"

namespace pqlab {
namespace {

double residual(const at::Tensor& w, const LowRank& l) { return (w - at::matmul(l.b, l.a)).norm().item<double>(); }

// A [n, k] matrix with singular values `s` (decaying or flat) and random singular vectors.
at::Tensor with_spectrum(int64_t n, int64_t k, const at::Tensor& s) {
  const at::Tensor u = std::get<0>(at::linalg_qr(at::randn({n, k}, at::kDouble)));
  const at::Tensor v = std::get<0>(at::linalg_qr(at::randn({k, k}, at::kDouble)));
  return at::matmul(u * s, v.t());
}

TEST(low_rank, exact_branch_is_the_eckart_young_optimum) {
  at::manual_seed(1);
  const at::Tensor s = at::pow(0.9, at::arange(64, at::kDouble));
  const at::Tensor w = with_spectrum(200, 64, s);
  const LowRank l = truncated_svd(w.to(at::kFloat), 8, SvdMode::exact);
  EXPECT_EQ(l.a.sizes(), (std::vector<int64_t>{8, 64}));
  EXPECT_EQ(l.b.sizes(), (std::vector<int64_t>{200, 8}));
  EXPECT_EQ(l.a.scalar_type(), at::kDouble);
  // The float32 input rounds w by ~1e-7 relative.
  EXPECT_NEAR(residual(w, l), s.narrow(0, 8, 56).pow(2).sum().sqrt().item<double>(), 1e-5);
  EXPECT_TRUE(at::allclose(at::matmul(l.a, l.a.t()), at::eye(8, at::kDouble), 1e-9, 1e-9));  // orthonormal rows
  EXPECT_LT((w - at::matmul(truncated_svd(w, 64, SvdMode::exact).b, truncated_svd(w, 64, SvdMode::exact).a)).abs().max().item<double>(), 1e-12);
}

TEST(low_rank, randomized_branch_is_within_its_stated_tolerance) {
  at::manual_seed(2);
  const at::Tensor decaying = with_spectrum(500, 192, at::pow(0.9, at::arange(192, at::kDouble)));
  const double e_exact = residual(decaying, truncated_svd(decaying, 32, SvdMode::exact));
  const double e_rand = residual(decaying, truncated_svd(decaying, 32, SvdMode::randomized, 5));
  EXPECT_LE(e_rand, e_exact * (1 + 1e-6));
  const at::Tensor flat = at::randn({500, 192}, at::kDouble);  // a random weight's spectrum: no gap
  const double f_exact = residual(flat, truncated_svd(flat, 32, SvdMode::exact));
  const double f_rand = residual(flat, truncated_svd(flat, 32, SvdMode::randomized, 5));
  EXPECT_GE(f_rand, f_exact * (1 - 1e-12));
  EXPECT_LE(f_rand, f_exact * 1.02);
  // Seeded: the same seed gives the same branch.
  EXPECT_TRUE(at::equal(truncated_svd(flat, 8, SvdMode::randomized, 3).a, truncated_svd(flat, 8, SvdMode::randomized, 3).a));
}

TEST(low_rank, rank_out_of_range_is_an_error) {
  EXPECT_EQ(test::message_of([] { truncated_svd(at::zeros({10, 4}), 5, SvdMode::exact); }),
            "low-rank approximation: rank 5 is not in [1, min(N, K) = 4] for a [10, 4] weight");
  EXPECT_THROW(truncated_svd(at::zeros({10, 4}), 0, SvdMode::exact), UsageError);
}

}  // namespace
}  // namespace pqlab
