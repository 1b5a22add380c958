// smoothquant (methods/quantizers/smoothquant.cpp) on the built-in FLUX with a real calibration:
// the scales are SmoothQuant's formula on the calibration statistics, the search picks the alpha
// with the lowest recorded error, and through the runner its per-layer decisions reach the file.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "framework/core/error.h"
#include "framework/experiment/result_paths.h"
#include "framework/experiment/runner.h"
#include "framework/interfaces/method.h"
#include "framework/io/hdf5_file.h"
#include "framework/quant/input_transform.h"
#include "framework/quant/linear_site.h"
#include "framework/quant/smoothing.h"
#include "tests/common/builtin_model.h"
#include "tests/common/error_text.h"
#include "tests/common/temp_dir.h"

namespace pqlab {
namespace {

const std::string kInt4 =
    "weight_format: {name: int, bits: 4, group_size: 16}, act_format: {name: int, bits: 4, group_size: 16}, "
    "only: [\"double.*\", \"single.*\"], skip: [\"*.mod\"]";

class SmoothquantTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto m = test::builtin_flux();
    cal_ = new Calibration(test::calibrate_all(*m, 2, 64));
  }
  static void TearDownTestSuite() { delete cal_; }
  static Calibration* cal_;
};
Calibration* SmoothquantTest::cal_ = nullptr;

TEST_F(SmoothquantTest, config_and_needs) {
  auto m = test::make_plugin<Method>(test::builtin(), "{name: smoothquant, " + kInt4 + "}");
  EXPECT_TRUE(m->needs().statistics);
  EXPECT_EQ(m->needs().keep_rows, 0);
  EXPECT_EQ(m->describe(), "smoothquant int4 g16 sym / int4 g16 sym, alpha 0.50");
  auto s = test::make_plugin<Method>(test::builtin(), "{name: smoothquant, search: true, search_rows: 32, " + kInt4 + "}");
  EXPECT_EQ(s->needs().keep_rows, 32);
  EXPECT_THROW(test::make_plugin<Method>(test::builtin(), "{name: smoothquant, alpha: 1.5, " + kInt4 + "}"), ConfigError);
  auto model = test::builtin_flux();
  EXPECT_EQ(test::message_of([&] { m->apply(*model, nullptr); }),
            "smoothquant needs calibration statistics (calibration.samples > 0)");
}

TEST_F(SmoothquantTest, scales_are_the_formula_on_calibration_statistics) {
  auto fp = test::builtin_flux();
  auto model = test::builtin_flux();
  auto m = test::make_plugin<Method>(test::builtin(), "{name: smoothquant, alpha: 0.5, " + kInt4 + "}");
  const MethodReport r = m->apply(*model, cal_);
  const auto fps = fp->linear_sites(), sites = model->linear_sites();
  size_t checked = 0;
  for (size_t i = 0; i < sites.size(); ++i) {
    if (!m->selects(sites[i]->key())) {
      EXPECT_EQ(sites[i]->input_transform(), nullptr);
      continue;
    }
    const at::Tensor s = smoothing_scales(cal_->pooled(sites[i]->key()).absmax,
                                          fps[i]->weight().to(at::kDouble).abs().amax(0), 0.5, 0.5);
    ASSERT_NE(sites[i]->input_transform(), nullptr);
    EXPECT_TRUE(at::allclose(sites[i]->input_transform()->channel_divisor(), s.to(at::kFloat), 1e-6, 0)) << sites[i]->key();
    ASSERT_LT(checked, r.sites.size());
    EXPECT_EQ(r.sites[checked].key, sites[i]->key());
    EXPECT_TRUE(at::equal(r.sites[checked].tensors.at(0).second, sites[i]->input_transform()->channel_divisor()));
    ++checked;
  }
  EXPECT_EQ(checked, r.sites.size());
  EXPECT_GT(checked, 10u);
}

TEST_F(SmoothquantTest, the_search_keeps_the_alpha_of_lowest_error) {
  auto model = test::builtin_flux();
  auto m = test::make_plugin<Method>(test::builtin(), "{name: smoothquant, search: true, grid: 10, " + kInt4 + "}");
  const MethodReport r = m->apply(*model, cal_);
  int moved = 0;
  for (const SiteRecord& rec : r.sites) {
    std::map<std::string, double> n(rec.numbers.begin(), rec.numbers.end());
    const at::Tensor errors = rec.tensors.at(0).second;
    ASSERT_EQ(rec.tensors.at(0).first, "search_errors");
    ASSERT_EQ(errors.numel(), 9);
    const int64_t best = errors.argmin().item<int64_t>();
    EXPECT_DOUBLE_EQ(n.at("alpha"), double(best + 1) / 10) << rec.key;
    EXPECT_DOUBLE_EQ(n.at("error"), errors.min().item<double>()) << rec.key;
    EXPECT_LE(n.at("error"), errors[4].item<double>()) << rec.key;  // alpha 0.5 is a candidate
    moved += n.at("alpha") != 0.5;
  }
  EXPECT_GT(moved, 0);
}

TEST_F(SmoothquantTest, per_layer_decisions_reach_the_result_file) {
  test::TempDir dir;
  const std::string yaml = std::string("include: ") + PQLAB_SOURCE_DIR + "/configs/models/flux_fmnist.yaml\n" +
                           "model: {steps: 3}\ndata: {eval_samples: 2, layer_samples: 1}\n"
                           "calibration: {samples: 2, keep_rows: 32}\nmetrics: [rel_mse]\n"
                           "images: {metrics: [], grids: false}\nvariants:\n"
                           "  - {label: sq, method: {name: smoothquant, search: true, grid: 4, " + kInt4 + "}}\n";
  ExperimentSpec spec = load_experiment(dir.write("sq.yaml", yaml), {}, test::builtin());
  RunOptions o;
  o.out_dir = dir.file("out");
  const RunSummary s = run_experiment(spec, o);
  H5Reader h(s.result_path);
  const std::string g = result_paths::variant_site("sq", "double.0.img.attn.qkv");
  EXPECT_EQ(h.read(g + "/scales").numel(), 128);
  EXPECT_EQ(h.read(g + "/search_errors").numel(), 3);
  bool has_alpha = false;
  for (const auto& [k, v] : h.attrs(g)) has_alpha = has_alpha || k == "alpha";
  EXPECT_TRUE(has_alpha);
  // The weight error compares the smoothed quantized weight with the smoothed full-precision one.
  const at::Tensor w = h.read(result_paths::variant_weight_rel_mse("sq"));
  EXPECT_LT(w.nan_to_num(0).max().item<double>(), 0.1);
}

}  // namespace
}  // namespace pqlab
