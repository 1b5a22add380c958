// Conformance of every registered method (registries.methods.names()), crossed with orderings
// and formats, on the built-in FLUX with a real calibration: with quantization off (a test-only
// exact format) every offline transform the method makes (permutations, gathers, and later
// smoothing, rotations, low-rank splits) leaves the model's output at fp32 round-off; with
// quantization on, weights keep their shapes and dtypes, outputs are finite and change; applying
// twice gives bit-identical models. A new method joins by being registered.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "framework/interfaces/method.h"
#include "framework/interfaces/number_format.h"
#include "framework/quant/input_transform.h"
#include "framework/quant/linear_site.h"
#include "framework/quant/output_map.h"
#include "framework/registry/registries.h"
#include "tests/common/builtin_model.h"

namespace pqlab {
namespace {

struct ExactConfig {
  template <class IO> static void map(IO&, ExactConfig&) {}
};

// Quantization off: values pass unchanged, and its "codes" are the values, so packed weights
// decode to themselves (the format contract decode(encode(x)) == fake_quant(x) holds).
class ExactFormat final : public ConfiguredPlugin<NumberFormat, ExactConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override { return "exact"; }
  double bits_per_element() const override { return 32; }
  at::Tensor fake_quant(const at::Tensor& x) const override { return x.clone(); }
  EncodedTensor encode(const at::Tensor& x) const override {
    EncodedTensor e;
    e.codes = x.clone();
    e.shape = x.sizes().vec();
    e.dtype = x.scalar_type();
    return e;
  }
  at::Tensor decode(const EncodedTensor& e) const override { return e.codes.clone(); }
  at::Tensor fake_quant_ref(const at::Tensor& x) const override { return x.clone(); }
};

const Registries& registries() {
  static const Registries r = [] {
    Registries x;
    register_builtin_plugins(x);
    x.formats.add<ExactFormat>("exact", "test only: no quantization", __FILE__, __LINE__);
    return x;
  }();
  return r;
}

std::vector<std::string> registered_methods() {
  Registries r;
  register_builtin_plugins(r);
  return r.methods.names();
}

// Keys that keep a method's CPU time here small without skipping any of its code paths.
std::string test_keys(const std::string& method) {
  if (method == "svdquant") return ", grid: 3, max_iters: 3, rank: 4";
  return "";
}

const char* const kOrderings[] = {"identity", "random", "{name: joint_second_moment, alpha: 0.5}"};
const char* const kQuantized = "only: [\"double.*.attn.*\", \"double.*.mlp.*\", \"single.*.linear1\", \"single.*.linear2\"]";

class MethodConformance : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    auto m = test::builtin_flux();
    cal_ = new Calibration(test::calibrate_all(*m, 2, 64));
    x_ = new at::Tensor(m->sample_inputs(2, 5));
    y_ = new at::Tensor(run_trajectory(*m, *x_, 0));
  }
  static void TearDownTestSuite() {
    delete cal_;
    delete x_;
    delete y_;
  }
  std::shared_ptr<Method> method(const std::string& format, const std::string& ordering) const {
    return test::make_plugin<Method>(registries(), "{name: " + GetParam() + ", weight_format: " + format +
                                                       ", act_format: " + format + ", ordering: " + ordering +
                                                       ", " + kQuantized + test_keys(GetParam()) + "}");
  }
  // A fresh model with the method applied.
  std::shared_ptr<ModelAdapter> applied(const Method& m) const {
    auto model = test::builtin_flux();
    for (LinearSite* s : model->linear_sites()) s->set_pack_quantized(true);
    m.apply(*model, cal_);
    return model;
  }
  static Calibration* cal_;
  static at::Tensor* x_;
  static at::Tensor* y_;
};
Calibration* MethodConformance::cal_ = nullptr;
at::Tensor* MethodConformance::x_ = nullptr;
at::Tensor* MethodConformance::y_ = nullptr;

// (permuquant keeps no permutation here: without quantization every E_orig is 0; rtn with an
// ordering absorbs every proposal, so the reordering path itself is exercised.)
TEST_P(MethodConformance, with_quantization_off_every_transform_is_exact) {
  for (const char* ordering : kOrderings) {
    auto model = applied(*method("exact", ordering));
    const double rel = test::rel_l2(run_trajectory(*model, *x_, 0), *y_);
    EXPECT_LT(rel, 1e-5) << GetParam() << " + " << ordering;
  }
}

// The method's own offline transforms, site by site, with quantization off: the weight the
// quantizer sees plus the low-rank branch equals the full-precision weight seen through the site's
// input transform (rotation, smoothing, gathers) in its absorbed row and column orders and
// through the maps that folds into neighbouring layers left (SmoothQuant's 1/s in a modulation,
// QuaRot's per-head V rotation). For svdquant this is "branch + residual reconstructs the
// smoothed weight".
TEST_P(MethodConformance, with_quantization_off_each_site_reconstructs_its_transformed_weight) {
  auto reference = test::builtin_flux();
  const auto fp = reference->linear_sites();
  for (const char* ordering : kOrderings) {
    auto model = applied(*method("exact", ordering));
    const auto sites = model->linear_sites();
    for (size_t i = 0; i < sites.size(); ++i) {
      const SiteState& st = sites[i]->state();
      at::Tensor w = fp[i]->weight().to(at::kDouble);
      if (st.output_order.defined()) w = w.index_select(0, st.output_order);
      if (st.output_map) w = st.output_map->fold_rows(w);  // rows a fold changed (a modulation's)
      if (st.input_transform || st.input_map) {
        if (st.input_order.defined()) w = w.index_select(1, st.input_order);
        if (st.input_map) w = st.input_map->fold_weight(w);  // a producer fold's inverse
        if (st.input_transform) w = st.input_transform->fold_weight(w);
      } else if (st.column_order.defined()) {
        w = w.index_select(1, st.column_order);
      }
      at::Tensor got = sites[i]->weight().to(at::kDouble);
      if (st.low_rank_a.defined()) got = got + at::matmul(st.low_rank_b.to(at::kDouble), st.low_rank_a.to(at::kDouble));
      EXPECT_LT(test::rel_l2(got, w), 1e-5) << GetParam() << " + " << ordering << " " << sites[i]->key();
    }
  }
}

TEST_P(MethodConformance, with_quantization_on_shapes_dtypes_and_finite_changed_outputs) {
  auto reference = test::builtin_flux();
  const auto fp = reference->linear_sites();
  for (const char* format : {"{name: int, bits: 4, group_size: 16}", "nvfp4", "mxfp4"}) {
    for (const char* ordering : kOrderings) {
      const std::string what = GetParam() + " " + format + " " + ordering;
      auto model = applied(*method(format, ordering));
      const auto sites = model->linear_sites();
      ASSERT_EQ(sites.size(), fp.size()) << what;
      for (size_t i = 0; i < sites.size(); ++i) {
        EXPECT_EQ(sites[i]->weight().sizes(), fp[i]->weight().sizes()) << what << " " << sites[i]->key();
        EXPECT_EQ(sites[i]->weight().scalar_type(), fp[i]->weight().scalar_type()) << what << " " << sites[i]->key();
      }
      const at::Tensor out = run_trajectory(*model, *x_, 0);
      EXPECT_EQ(out.sizes(), y_->sizes()) << what;
      EXPECT_TRUE(at::isfinite(out).all().item<bool>()) << what;
      const double rel = test::rel_l2(out, *y_);
      EXPECT_GT(rel, 1e-4) << what;  // 4-bit weights and activations: far from round-off
      EXPECT_LT(rel, 1.0) << what;
    }
  }
}

TEST_P(MethodConformance, applying_twice_gives_identical_models) {
  for (const char* ordering : kOrderings) {
    const auto m = method("nvfp4", ordering);
    auto a = applied(*m), b = applied(*m);
    const auto sa = a->linear_sites(), sb = b->linear_sites();
    for (size_t i = 0; i < sa.size(); ++i) {
      EXPECT_TRUE(at::equal(sa[i]->weight(), sb[i]->weight())) << GetParam() << " " << ordering << " " << sa[i]->key();
    }
    EXPECT_TRUE(at::equal(run_trajectory(*a, *x_, 0), run_trajectory(*b, *x_, 0))) << GetParam() << " " << ordering;
  }
}

INSTANTIATE_TEST_SUITE_P(AllMethods, MethodConformance, ::testing::ValuesIn(registered_methods()),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace pqlab
