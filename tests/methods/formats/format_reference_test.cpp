// Formats against references outside pqlab's own code:
//  - tests/data/torch_format_vectors.safetensors: adversarial tensors and the codes, scales and
//    values PyTorch 2.11 computed for them (scripts/check_formats_against_torch.py on the GPU
//    machine: TransformerEngine's NVFP4 order of fp32 operations with torch's own float8_e4m3fn
//    cast; FP8 E4M3 per-tensor with torch's cast). Replayed here so CI checks them without torch.
//  - an Eigen float64 reference of symmetric INT quantization (statistics check).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>

#include "framework/io/safetensors.h"
#include "tests/common/plugins.h"

namespace pqlab {
namespace {

const char* kVectors = PQLAB_TEST_DATA_DIR "/torch_format_vectors.safetensors";
const char* kCases[] = {"ties", "subnormal", "dynamic_range", "scale_ties", "outliers"};

TEST(FormatReference, nvfp4_codes_scales_values_match_pytorch_te_order) {
  SafetensorsFile v(kVectors);
  auto fmt = test::make_plugin<NumberFormat>(test::builtin(), "nvfp4");
  for (const char* c : kCases) {
    const at::Tensor x = v.get(std::string("input.") + c);
    const EncodedTensor e = fmt->encode(x);
    EXPECT_TRUE(at::equal(e.codes, v.get(std::string("nvfp4.") + c + ".codes"))) << c;
    EXPECT_TRUE(at::equal(e.scales, v.get(std::string("nvfp4.") + c + ".scales"))) << c;
    EXPECT_TRUE(at::equal(fmt->fake_quant(x), v.get(std::string("nvfp4.") + c + ".values"))) << c;
    EXPECT_TRUE(at::equal(fmt->fake_quant_ref(x), v.get(std::string("nvfp4.") + c + ".values"))) << c;
  }
}

TEST(FormatReference, fp8_e4m3_codes_and_values_match_pytorch_cast) {
  SafetensorsFile v(kVectors);
  auto fmt = test::make_plugin<NumberFormat>(test::builtin(), "{name: fp8_e4m3, group_size: tensor}");
  for (const char* c : kCases) {
    const at::Tensor x = v.get(std::string("input.") + c);
    EXPECT_TRUE(at::equal(fmt->encode(x).codes, v.get(std::string("fp8_e4m3.") + c + ".codes"))) << c;
    EXPECT_TRUE(at::equal(fmt->fake_quant(x), v.get(std::string("fp8_e4m3.") + c + ".values"))) << c;
  }
}

TEST(FormatReference, int_symmetric_agrees_with_float64_eigen_reference) {
  // In float64 the scale and x/s carry no fp32 rounding; the fp32 result may differ only where
  // x/s lies within fp32 round-off of a .5 tie, by exactly one step, and never elsewhere.
  auto fmt = test::make_plugin<NumberFormat>(test::builtin(), "{name: int, bits: 4, group_size: 32}");
  const at::Tensor x = at::randn({64, 256}, at::TensorOptions().dtype(at::kFloat)) * 3;
  const at::Tensor y = fmt->fake_quant(x).contiguous();
  Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> xm(x.data_ptr<float>(), 64, 256);
  Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> ym(y.data_ptr<float>(), 64, 256);
  int64_t differ = 0;
  double sq_err = 0, sq_sig = 0;
  for (int r = 0; r < 64; ++r)
    for (int g = 0; g < 256 / 32; ++g) {
      const Eigen::VectorXd xg = xm.row(r).segment(g * 32, 32).cast<double>();
      const double s = xg.cwiseAbs().maxCoeff() / 7.0;
      for (int i = 0; i < 32; ++i) {
        const double q = std::max(-8.0, std::min(7.0, std::nearbyint(xg[i] / s)));
        const double got = ym(r, g * 32 + i);
        if (std::fabs(got - q * s) > 1e-6 * s) {
          ++differ;
          EXPECT_NEAR(std::fabs(xg[i] / s - std::trunc(xg[i] / s)), 0.5, 1e-5) << "not a near-tie";
          EXPECT_NEAR(std::fabs(got - q * s), s, 1e-5 * s);
        }
        EXPECT_LE(std::fabs(got - xg[i]), 0.5 * s * (1 + 1e-5));  // never above half a step
        sq_err += (got - xg[i]) * (got - xg[i]);
        sq_sig += xg[i] * xg[i];
      }
    }
  EXPECT_LE(differ, 2);
  // Uniform rounding noise s^2/12 against a Gaussian's amax over 32 samples: ~22-24 dB at 4 bits.
  const double sqnr_db = 10 * std::log10(sq_sig / sq_err);
  EXPECT_GT(sqnr_db, 18.0);
  EXPECT_LT(sqnr_db, 28.0);
}

}  // namespace
}  // namespace pqlab
