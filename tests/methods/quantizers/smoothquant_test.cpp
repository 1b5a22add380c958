// smoothquant (methods/quantizers/smoothquant.cpp) on the built-in FLUX with a real calibration:
// the scales are SmoothQuant's formula on the calibration statistics, the search picks the alpha
// with the lowest recorded error, and through the runner its per-layer decisions reach the file.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>

#include "framework/core/error.h"
#include "framework/experiment/result_paths.h"
#include "framework/experiment/runner.h"
#include "framework/interfaces/method.h"
#include "framework/io/hdf5_file.h"
#include "framework/quant/input_transform.h"
#include "framework/quant/linear_site.h"
#include "framework/quant/output_map.h"
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
  std::map<std::string, const SiteRecord*> recs;
  for (const SiteRecord& rec : r.sites) recs[rec.key] = &rec;
  const auto fps = fp->linear_sites(), sites = model->linear_sites();
  int folded = 0, transformed = 0;
  for (size_t i = 0; i < sites.size(); ++i) {
    const SiteState& st = sites[i]->state();
    if (!m->selects(sites[i]->key())) {
      EXPECT_EQ(st.input_transform, nullptr);
      continue;
    }
    const at::Tensor s = smoothing_scales(cal_->pooled(sites[i]->key()).absmax,
                                          fps[i]->weight().to(at::kDouble).abs().amax(0), 0.5, 0.5);
    ASSERT_EQ(recs.count(sites[i]->key()), 1u) << sites[i]->key();
    const SiteRecord& rec = *recs.at(sites[i]->key());
    // Norm outputs: 1/s folded into the modulation (its shift and scale rows); elsewhere x / s at the input.
    const bool fold = !rec.texts.empty() && rec.texts[0].first == "folded_into";
    const InputTransform* where = fold ? st.input_map.get() : st.input_transform.get();
    ASSERT_NE(where, nullptr) << sites[i]->key();
    EXPECT_EQ(fold ? st.input_transform : st.input_map, nullptr) << sites[i]->key();
    EXPECT_TRUE(at::allclose(where->channel_divisor(), s.to(at::kFloat), 1e-6, 0)) << sites[i]->key();
    EXPECT_TRUE(at::equal(rec.tensors.at(0).second, where->channel_divisor()));
    if (fold) {
      // The stream's modulation: "double.0.img.attn.qkv" -> "double.0.img.mod", "single.1.linear1" -> "single.1.mod".
      const std::string& k = sites[i]->key();
      const size_t n = k[0] == 'd' ? 3 : 2;
      size_t pos = 0;
      for (size_t part = 0; part < n; ++part) pos = k.find('.', pos) + 1;
      EXPECT_EQ(rec.texts[0].second, k.substr(0, pos) + "mod") << k;
    }
    (fold ? folded : transformed)++;
  }
  EXPECT_EQ(folded, 10);       // qkv and mlp.up of both streams of 2 double blocks, linear1 of 2 single blocks
  EXPECT_EQ(transformed, 10);  // attention proj, mlp.down, linear2
}

TEST_F(SmoothquantTest, fold_false_applies_every_scale_at_the_input) {
  auto model = test::builtin_flux();
  auto m = test::make_plugin<Method>(test::builtin(), "{name: smoothquant, fold: false, " + kInt4 + "}");
  m->apply(*model, cal_);
  for (LinearSite* s : model->linear_sites()) {
    EXPECT_EQ(s->state().input_map, nullptr) << s->key();
    EXPECT_EQ(s->state().output_map, nullptr) << s->key();
    if (m->selects(s->key())) {
      EXPECT_EQ(s->input_transform()->describe(), "scale") << s->key();
    }
  }
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
  // A modulation that took 1/s is compared through its output map: round-off, not an error.
  const std::vector<std::string> keys = h.read_strings(result_paths::kLayerKey);
  const at::Tensor iso = h.read(result_paths::variant_tf_isolated("sq"));
  int mods = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].size() < 4 || keys[i].substr(keys[i].size() - 4) != ".mod") continue;
    EXPECT_LT(iso[static_cast<int64_t>(i)].max().item<double>(), 1e-10) << keys[i];
    EXPECT_EQ(w[static_cast<int64_t>(i)].item<double>(), 0) << keys[i];
    ++mods;
  }
  EXPECT_EQ(mods, 6);
  // Peak device memory is not measured for a CPU model: -1, not a made-up 0.
  std::map<std::string, std::string> root, var;
  for (const auto& [k, v] : h.attrs("/")) root[k] = v;
  for (const auto& [k, v] : h.attrs(result_paths::variant("sq"))) var[k] = v;
  EXPECT_EQ(root["peak_device_bytes_calibration"], "-1");
  EXPECT_EQ(var["peak_device_bytes_apply"], "-1");
}

}  // namespace
}  // namespace pqlab
