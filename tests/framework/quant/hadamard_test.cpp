// Hadamard matrices (framework/quant/hadamard.h): every order pqlab builds is a true Hadamard
// matrix, FLUX's and Z-Image's widths factor as expected, the fast transforms equal the dense
// matrix products, and a size without a construction is a clear error.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "framework/core/error.h"
#include "framework/quant/hadamard.h"
#include "tests/common/error_text.h"

namespace pqlab {
namespace {

TEST(hadamard, every_constructed_order_is_a_hadamard_matrix) {
  for (int64_t m : {1, 2, 4, 8, 12, 20, 24, 28, 36, 40, 44, 60, 68, 108, 140, 172 - 64}) {
    const at::Tensor h = hadamard_matrix(m);
    ASSERT_EQ(h.sizes(), (std::vector<int64_t>{m, m})) << m;
    EXPECT_TRUE(at::equal(h.abs(), at::ones_like(h))) << m;
    EXPECT_TRUE(at::equal(at::matmul(h, h.t()), m * at::eye(m, at::kDouble))) << m;
  }
}

TEST(hadamard, widths_of_flux_and_z_image_factor_as_quarot_does) {
  EXPECT_EQ(hadamard_order(3072).describe(), "12x256");    // FLUX hidden
  EXPECT_EQ(hadamard_order(12288).describe(), "12x1024");  // FLUX MLP hidden
  EXPECT_EQ(hadamard_order(15360).describe(), "60x256");   // FLUX single-block linear2 input
  EXPECT_EQ(hadamard_order(3840).describe(), "60x64");     // Z-Image hidden
  EXPECT_EQ(hadamard_order(10240).describe(), "20x512");   // Z-Image FFN (QuaRot: 40 x 256; any Hadamard serves)
  EXPECT_EQ(hadamard_order(4096).describe(), "4096");
  EXPECT_FALSE(has_hadamard(52));
  EXPECT_FALSE(has_hadamard(156));
  EXPECT_EQ(test::message_of([] { hadamard_order(52); }),
            "no Hadamard rotation of size 52: it must be 2^n times 1 or a Paley order (12, 20, 28, 36, 44, 60, 68, 76, "
            "84, 108, 140, ...)");
  EXPECT_THROW(hadamard_matrix(52), UsageError);
}

TEST(hadamard, regular_blocks_are_symmetric_with_equal_row_sums) {
  for (int64_t n : {4, 16, 64, 256}) {
    const at::Tensor h = regular_hadamard_matrix(n);
    EXPECT_TRUE(at::equal(h, h.t())) << n;
    EXPECT_TRUE(at::equal(at::matmul(h, h.t()), n * at::eye(n, at::kDouble))) << n;
    EXPECT_TRUE(at::equal(h.sum(1), at::full({n}, std::sqrt(double(n)), at::kDouble))) << n;
  }
  EXPECT_EQ(test::message_of([] { regular_hadamard_matrix(32); }),
            "a regular Hadamard block must have size 4^k (4, 16, 64, 256, ...), not 32");
}

TEST(hadamard, fast_transforms_equal_the_dense_products) {
  const at::Tensor x = at::randn({3, 5, 256}, at::kDouble);
  EXPECT_LT((fwht_last(x) - at::matmul(x, hadamard_matrix(256))).abs().max().item<double>(), 1e-11);
  for (int64_t k : {640, 3072}) {
    const at::Tensor y = at::randn({7, k}, at::kDouble);
    const HadamardOrder o = hadamard_order(k);
    const at::Tensor dense = at::kron(hadamard_matrix(o.m), hadamard_matrix(o.pow2)) / std::sqrt(double(k));
    EXPECT_LT((hadamard_transform_last(y) - at::matmul(y, dense)).abs().max().item<double>(), 1e-11) << k;
    EXPECT_NEAR(hadamard_transform_last(y).norm().item<double>(), y.norm().item<double>(), 1e-9) << k;
  }
  EXPECT_THROW(fwht_last(at::zeros({2, 12})), UsageError);
}

}  // namespace
}  // namespace pqlab
