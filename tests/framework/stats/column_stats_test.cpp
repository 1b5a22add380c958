// accumulate_column_stats: exact against float64 sums of the same values, accumulates across calls,
// takes strided rows, propagates NaN into absmax, rejects bad accumulators; on CUDA the fused
// kernel agrees with the CPU path (sums to 1e-12 relative, absmax exactly) for every input dtype,
// sizes that are not multiples of its 64-row chunks and 256-column blocks, and strided rows.
#include "framework/stats/column_stats.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "framework/core/error.h"

namespace pqlab {
namespace {

struct Acc {
  at::Tensor sum, sumsq, absmax;
  explicit Acc(int64_t k, at::Device d = at::kCPU) {
    const auto o = at::TensorOptions().dtype(at::kDouble).device(d);
    sum = at::zeros({k}, o);
    sumsq = at::zeros({k}, o);
    absmax = at::zeros({k}, o);
  }
  void add(const at::Tensor& x) { accumulate_column_stats(x, sum, sumsq, absmax); }
};

at::Tensor sample(int64_t r, int64_t k, at::ScalarType st, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  // Channels of very different scales, as in real activations.
  const at::Tensor scale = at::exp(at::randn({k}, gen) * 2.0);
  return (at::randn({r, k}, gen) * scale).to(st);
}

TEST(column_stats, exact_for_bf16_and_accumulates_over_calls) {
  const at::Tensor a = sample(37, 19, at::kBFloat16, 1), b = sample(5, 19, at::kBFloat16, 2);
  Acc acc(19);
  acc.add(a);
  acc.add(b);
  const at::Tensor all = at::cat({a, b}, 0).to(at::kDouble);  // bf16 values are exact in float64
  EXPECT_TRUE(at::allclose(acc.sum, all.sum(0), 1e-13, 0.0));
  EXPECT_TRUE(at::allclose(acc.sumsq, (all * all).sum(0), 1e-13, 0.0));
  EXPECT_TRUE(at::equal(acc.absmax, all.abs().amax(0)));
}

TEST(column_stats, float32_squares_in_float64_and_strided_rows) {
  const at::Tensor big = sample(40, 30, at::kFloat, 3);
  const at::Tensor x = big.narrow(1, 5, 12);  // rows with stride 30, not contiguous
  ASSERT_FALSE(x.is_contiguous());
  Acc acc(12);
  acc.add(x);
  const at::Tensor d = x.to(at::kDouble);
  EXPECT_TRUE(at::allclose(acc.sumsq, (d * d).sum(0), 1e-14, 0.0));
  EXPECT_TRUE(at::equal(acc.absmax, d.abs().amax(0)));
}

TEST(column_stats, nan_reaches_absmax_and_bad_accumulators_are_errors) {
  at::Tensor x = at::ones({4, 3});
  x[2][1] = std::numeric_limits<float>::quiet_NaN();
  Acc acc(3);
  acc.add(x);
  EXPECT_TRUE(std::isnan(acc.absmax[1].item<double>()));
  EXPECT_EQ(acc.absmax[0].item<double>(), 1.0);
  at::Tensor wrong = at::zeros({3}, at::kFloat);
  try {
    accumulate_column_stats(x, wrong, acc.sumsq, acc.absmax);
    FAIL() << "expected an error";
  } catch (const RuntimeError& e) {
    EXPECT_STREQ(e.what(), "accumulate_column_stats: accumulators must be contiguous float64 [K] on x's device");
  }
  EXPECT_THROW(acc.add(at::ones({2, 3, 1})), RuntimeError);
  EXPECT_THROW(acc.add(at::ones({2, 3}, at::kDouble)), RuntimeError);
}

TEST(column_stats, CudaMatchesCpu) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  EXPECT_TRUE(column_stats_fused_cuda()) << "a CUDA build without pqlab's kernels (no nvcc at configure time)";
  for (const at::ScalarType st : {at::kBFloat16, at::kHalf, at::kFloat}) {
    for (const auto& [r, k] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {63, 255}, {4608, 3072}, {130, 1000}}) {
      const at::Tensor x = sample(r, k, st, static_cast<uint64_t>(r * 7 + k));
      Acc cpu(k), gpu(k, at::kCUDA);
      cpu.add(x);
      cpu.add(x.narrow(0, 0, (r + 1) / 2));
      const at::Tensor xg = x.to(at::kCUDA);
      gpu.add(xg);
      gpu.add(xg.narrow(0, 0, (r + 1) / 2));
      const std::string what = std::string(c10::toString(st)) + " [" + std::to_string(r) + ", " + std::to_string(k) + "]";
      EXPECT_TRUE(at::allclose(gpu.sum.cpu(), cpu.sum, 1e-12, 1e-300)) << what;
      EXPECT_TRUE(at::allclose(gpu.sumsq.cpu(), cpu.sumsq, 1e-12, 0.0)) << what;
      EXPECT_TRUE(at::equal(gpu.absmax.cpu(), cpu.absmax)) << what;
    }
  }
  // Strided rows on the device (a column slice of a wider matrix).
  const at::Tensor wide = sample(300, 700, at::kBFloat16, 9);
  Acc cpu(200), gpu(200, at::kCUDA);
  cpu.add(wide.narrow(1, 100, 200));
  gpu.add(wide.to(at::kCUDA).narrow(1, 100, 200));
  EXPECT_TRUE(at::allclose(gpu.sumsq.cpu(), cpu.sumsq, 1e-12, 0.0));
  EXPECT_TRUE(at::equal(gpu.absmax.cpu(), cpu.absmax));
}

}  // namespace
}  // namespace pqlab
