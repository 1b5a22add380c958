// accumulate_sq_error: float64 sums of (a - b)^2 and b^2 exact for bf16 inputs, accumulated into
// elements of a larger tensor in place, ref-only when a is undefined, errors for mismatched
// inputs; on CUDA the fused kernel agrees with the CPU path to 1e-12 for every dtype and for sizes
// below, at and above its block and grid limits.
#include "framework/stats/sq_error.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "framework/core/error.h"

namespace pqlab {
namespace {

at::Tensor sample(std::vector<int64_t> shape, at::ScalarType st, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return (at::randn(shape, gen) * 3.0).to(st);
}

TEST(sq_error, exact_sums_into_elements_in_place) {
  const at::Tensor a = sample({7, 33}, at::kBFloat16, 1), b = sample({7, 33}, at::kBFloat16, 2);
  at::Tensor errs = at::zeros({3, 4}, at::kDouble), refs = at::zeros({3, 4}, at::kDouble);
  accumulate_sq_error(a, b, errs[1][2], refs[1][2]);
  accumulate_sq_error(a, b, errs[1][2], refs[1][2]);
  const at::Tensor ad = a.to(at::kDouble), bd = b.to(at::kDouble);
  EXPECT_NEAR(errs[1][2].item<double>(), 2 * (ad - bd).pow(2).sum().item<double>(), 1e-12 * errs[1][2].item<double>());
  EXPECT_NEAR(refs[1][2].item<double>(), 2 * bd.pow(2).sum().item<double>(), 1e-12 * refs[1][2].item<double>());
  EXPECT_EQ(errs.abs().sum().item<double>(), errs[1][2].item<double>());  // nothing else touched
  at::Tensor only_ref = at::zeros({}, at::kDouble), untouched = at::zeros({}, at::kDouble);
  accumulate_sq_error(at::Tensor(), b, untouched, only_ref);
  EXPECT_EQ(untouched.item<double>(), 0.0);
  EXPECT_NEAR(only_ref.item<double>(), bd.pow(2).sum().item<double>(), 1e-12 * only_ref.item<double>());
}

TEST(sq_error, mismatched_inputs_are_errors) {
  const at::Tensor b = at::ones({2, 3});
  at::Tensor e = at::zeros({}, at::kDouble);
  try {
    accumulate_sq_error(at::ones({3, 2}), b, e, at::Tensor());
    FAIL() << "expected an error";
  } catch (const RuntimeError& x) {
    EXPECT_STREQ(x.what(), "accumulate_sq_error: a and b differ in shape, dtype or device");
  }
  EXPECT_THROW(accumulate_sq_error(b, b, at::zeros({}, at::kFloat), at::Tensor()), RuntimeError);
  EXPECT_THROW(accumulate_sq_error(at::Tensor(), at::ones({2}, at::kDouble), at::Tensor(), e), RuntimeError);
}

TEST(sq_error, CudaMatchesCpu) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  for (const at::ScalarType st : {at::kBFloat16, at::kHalf, at::kFloat}) {
    for (const int64_t n : {1, 255, 2048, 100000, 4608 * 3072}) {
      const at::Tensor a = sample({n}, st, static_cast<uint64_t>(n)), b = sample({n}, st, static_cast<uint64_t>(n + 1));
      at::Tensor ce = at::zeros({}, at::kDouble), cr = at::zeros({}, at::kDouble);
      accumulate_sq_error(a, b, ce, cr);
      const auto d = at::TensorOptions().dtype(at::kDouble).device(at::kCUDA);
      at::Tensor ge = at::zeros({2}, d), gr = at::zeros({2}, d);
      accumulate_sq_error(a.to(at::kCUDA), b.to(at::kCUDA), ge[1], gr[1]);
      EXPECT_NEAR(ge[1].item<double>(), ce.item<double>(), 1e-12 * ce.item<double>()) << n;
      EXPECT_NEAR(gr[1].item<double>(), cr.item<double>(), 1e-12 * cr.item<double>()) << n;
      EXPECT_EQ(ge[0].item<double>(), 0.0);
    }
  }
  // Non-contiguous inputs (a transposed view).
  const at::Tensor a = sample({300, 70}, at::kBFloat16, 5), b = sample({70, 300}, at::kBFloat16, 6).t();
  at::Tensor ce = at::zeros({}, at::kDouble), ge = at::zeros({}, at::TensorOptions().dtype(at::kDouble).device(at::kCUDA));
  accumulate_sq_error(a, b, ce, at::Tensor());
  accumulate_sq_error(a.to(at::kCUDA), b.to(at::kCUDA), ge, at::Tensor());
  EXPECT_NEAR(ge.item<double>(), ce.item<double>(), 1e-12 * ce.item<double>());
}

}  // namespace
}  // namespace pqlab
