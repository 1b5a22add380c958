// svdquant: SVDQuant (arXiv 2411.05007; methods.md 2), as deepcompressor calibrates it:
//  1. smoothing X / lambda, W lambda with lambda_j = max|X_j|^alpha / max|W_j|^beta, (alpha, beta)
//     searched per layer over no smoothing, every (a, 1 - a) and (with search_beta_zero) every
//     (a, 0), a in {1/grid, ..., (grid-1)/grid}, scored by the layer-output error on calibration
//     reservoir rows with both sides fake-quantized and the rank-r branch in place (the residual
//     quantized);
//  2. an optional channel ordering of X / lambda (the quantizer's input; site_reorder.h);
//  3. the rank-r branch L = B A from the SVD of the smoothed weight, refined as
//     L_{k+1} = SVD_r(W - Q(W - L_k)), each candidate scored by the same error, the best kept,
//     stopping at the first iteration that does not improve (early_stop) or after max_iters;
//  4. the residual W - L quantized round-to-nearest; the branch stays in the model dtype (16-bit
//     for a bf16 model) and reads the smoothed (and ordered) input: y = Q(Tx) Q(R)^T + (Tx) A^T B^T.
// SVDs run in float64 (exact, or randomised for large models: svd key). FLUX's q, k and v are one
// fused linear, so they share one branch (deepcompressor's exclusive: false). lambda lives as an
// input transform, as in nunchaku, which applies 1/lambda in its fused LoRA-down + quantize kernel.
// Tests: tests/methods/quantizers/svdquant_test.cpp
#include <ATen/ATen.h>

#include <limits>
#include <memory>

#include "framework/core/error.h"
#include "framework/experiment/calibration.h"
#include "framework/interfaces/model_adapter.h"
#include "framework/quant/input_transform.h"
#include "framework/quant/linear_site.h"
#include "framework/quant/low_rank.h"
#include "framework/quant/reorder.h"
#include "framework/quant/smoothing.h"
#include "methods/quantizers/phase_timer.h"
#include "methods/quantizers/quant_targets.h"
#include "methods/quantizers/site_ordering.h"

namespace pqlab::methods {

struct SvdquantConfig {
  QuantTargets targets;
  int64_t rank = 32;
  bool search = true;
  double alpha = 0.5;
  int64_t grid = 20;
  bool search_beta_zero = true;
  int64_t max_iters = 100;
  bool early_stop = true;
  std::string svd = "exact";
  int64_t search_rows = 256;
  SiteOrderingKeys order;
  template <class IO> static void map(IO& io, SvdquantConfig& c) {
    QuantTargets::map_formats(io, c.targets);
    io.field("rank", c.rank, "rank of the 16-bit low-rank branch (32 in the paper)", config::in_range(1, 1e5));
    io.field("search", c.search,
             "search the smoothing (alpha, beta) per layer on the layer-output error with the branch in place; "
             "false: alpha fixed, beta = 1 - alpha");
    io.field("alpha", c.alpha, "smoothing strength when search is false", config::in_range(0, 1));
    io.field("grid", c.grid, "alpha grid {1/grid, ..., (grid-1)/grid} of the search (deepcompressor: 20; fast: 10)",
             config::in_range(2, 1000));
    io.field("search_beta_zero", c.search_beta_zero,
             "also try beta = 0 (lambda = max|X|^alpha) for every alpha, as deepcompressor's default search does");
    io.field("max_iters", c.max_iters, "refinement iterations of the branch: L = SVD_r(W - Q(W - L))",
             config::in_range(0, 1e4));
    io.field("early_stop", c.early_stop, "stop refining at the first iteration that does not lower the error");
    io.field("svd", c.svd,
             "exact (LAPACK / cuSOLVER) or randomized (range finder, 16 extra probes, 4 power iterations; "
             "tests bound its residual against the exact one)",
             config::one_of({"exact", "randomized"}));
    io.field("search_rows", c.search_rows, "calibration reservoir rows per layer the errors are scored on",
             config::in_range(1, 1e7));
    SiteOrderingKeys::map(io, c.order);
    QuantTargets::map_layers(io, c.targets);
  }
};

class Svdquant final : public ConfiguredPlugin<Method, SvdquantConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override {
    const std::string order = cfg_.order.active() ? " + " + cfg_.order.ordering->describe() : "";
    return "svdquant " + weight_format_label() + " / " + act_format_label() + ", rank " + std::to_string(cfg_.rank) +
           (cfg_.search ? ", smoothing searched" : ", alpha " + std::to_string(cfg_.alpha).substr(0, 4)) + order;
  }
  std::string weight_format_label() const override { return cfg_.targets.weight_label(); }
  std::string act_format_label() const override { return cfg_.targets.act_label(); }
  bool selects(const std::string& key) const override { return cfg_.targets.selects(key); }
  CalibrationNeeds needs() const override {
    CalibrationNeeds n;
    n.statistics = true;
    n.keep_rows = cfg_.search_rows;
    return merged(n, cfg_.order.needs(false));
  }

  MethodReport apply(ModelAdapter& model, const Calibration* cal) const override {
    if (!cal) throw UsageError("svdquant needs calibration statistics and rows (calibration.samples > 0)");
    MethodReport report;
    const std::vector<LinearSite*> sites = model.linear_sites();
    for (LinearSite* s : sites)
      if (selects(s->key())) check_rank(*s);
    // Site by site, each quantized before the next begins: one unquantized transformed weight and
    // one site's float64 temporaries at a time.
    for (size_t i = 0; i < sites.size(); ++i) {
      LinearSite& site = *sites[i];
      if (!selects(site.key())) continue;
      const at::Tensor w = site.weight();
      at::Tensor rows = calibration_rows(*cal, site.key(), -1, w.device(), "svdquant");
      rows = rows.narrow(0, 0, std::min<int64_t>(rows.size(0), cfg_.search_rows)).contiguous();
      const at::Tensor ref = at::matmul(rows.to(at::kDouble), w.to(at::kDouble).t());
      SiteRecord rec;
      rec.key = site.key();
      {
        PhaseTimer timer(report, "smoothing");
        smooth(site, *cal, rows, ref, i, rec);
      }
      cfg_.order.apply(site, cal, i, 0, report);
      {
        PhaseTimer timer(report, "low_rank");
        low_rank(site, rows, ref, i, rec);
      }
      report.sites.push_back(std::move(rec));
      PhaseTimer timer(report, "quantization");
      quantize_site(site, cfg_.targets.weight_format.impl, cfg_.targets.act_format.impl);
    }
    return report;
  }

 private:
  SvdMode mode() const { return cfg_.svd == "randomized" ? SvdMode::randomized : SvdMode::exact; }

  // 1. The smoothing (alpha, beta) with the lowest layer-output error, the rank-r branch in place;
  // installs x / lambda and W lambda.
  void smooth(LinearSite& site, const Calibration& cal, const at::Tensor& rows, const at::Tensor& ref, size_t index,
              SiteRecord& rec) const {
    const auto& wf = cfg_.targets.weight_format.impl;
    const auto& af = cfg_.targets.act_format.impl;
    const at::Tensor w = site.weight();
    const at::Tensor w64 = w.to(at::kDouble);
    const at::Tensor act_max = cal.pooled(site.key()).absmax.to(w.device());
    const at::Tensor w_max = w64.abs().amax(0);
    std::vector<std::pair<double, double>> cands;
    if (cfg_.search) {
      cands.emplace_back(0, 0);
      for (int64_t g = 1; g < cfg_.grid; ++g) cands.emplace_back(double(g) / double(cfg_.grid), 1 - double(g) / double(cfg_.grid));
      if (cfg_.search_beta_zero)
        for (int64_t g = 1; g < cfg_.grid; ++g) cands.emplace_back(double(g) / double(cfg_.grid), 0);
    } else {
      cands.emplace_back(cfg_.alpha, 1 - cfg_.alpha);
    }
    double best = std::numeric_limits<double>::infinity();
    std::pair<double, double> chosen = cands[0];
    std::vector<double> errors;
    for (const auto& [a, b] : cands) {
      const at::Tensor s = smoothing_scales(act_max, w_max, a, b);
      const at::Tensor ws = w64 * s;
      const LowRank l = truncated_svd(ws, cfg_.rank, mode(), index);
      const double e = layer_output_error(ref, rows / s.to(at::kFloat), ws - at::matmul(l.b, l.a), l.a, l.b, wf, af);
      errors.push_back(e);
      if (e < best) best = e, chosen = {a, b};  // the first of equal errors
    }
    const at::Tensor s = smoothing_scales(act_max, w_max, chosen.first, chosen.second).to(at::kCPU, at::kFloat);
    auto scale = std::make_shared<ChannelScale>(s);
    site.set_weight(scale->fold_weight(w));
    site.set_input_transform(scale);
    rec.numbers = {{"alpha", chosen.first}, {"beta", chosen.second}, {"error_search", best},
                   {"error_rtn", layer_output_error(ref, rows, w, {}, {}, wf, af)}};
    rec.tensors = {{"scales", s}};
    if (cfg_.search) rec.tensors.emplace_back("search_errors", at::tensor(errors, at::kDouble));
  }

  // 3. The branch L = B A, refined by L = SVD_r(W - Q(W - L)); 4. the residual W - L as the weight.
  void low_rank(LinearSite& site, const at::Tensor& rows, const at::Tensor& ref, size_t index, SiteRecord& rec) const {
    const auto& wf = cfg_.targets.weight_format.impl;
    const auto& af = cfg_.targets.act_format.impl;
    const at::Tensor tx = site.input_transform()->apply(rows);
    const at::Tensor w = site.weight().to(at::kDouble);
    auto score = [&](const LowRank& l) { return layer_output_error(ref, tx, w - at::matmul(l.b, l.a), l.a, l.b, wf, af); };
    const uint64_t seed = 1000003 + index * 1009;
    LowRank best = truncated_svd(w, cfg_.rank, mode(), seed), cur = best;
    double best_e = score(best);
    const double first_e = best_e;
    int64_t iters = 0;
    for (int64_t it = 1; it <= cfg_.max_iters; ++it) {
      const at::Tensor q = wf->fake_quant((w - at::matmul(cur.b, cur.a)).to(at::kFloat)).to(at::kDouble);
      cur = truncated_svd(w - q, cfg_.rank, mode(), seed + it);
      const double e = score(cur);
      iters = it;
      if (e < best_e) {
        best = cur;
        best_e = e;
      } else if (cfg_.early_stop) {
        break;
      }
    }
    const at::ScalarType dt = site.weight().scalar_type();
    site.set_weight((w - at::matmul(best.b, best.a)).to(dt));
    site.set_low_rank(best.a.to(dt), best.b.to(dt));
    rec.numbers.insert(rec.numbers.end(), {{"rank", double(cfg_.rank)},
                                           {"iterations", double(iters)},
                                           {"error_first_svd", first_e},
                                           {"error", best_e}});
  }

  void check_rank(const LinearSite& s) const {
    if (cfg_.rank > std::min(s.in_features(), s.out_features()))
      throw UsageError("svdquant: rank " + std::to_string(cfg_.rank) + " exceeds layer '" + s.key() + "' [" +
                       std::to_string(s.out_features()) + ", " + std::to_string(s.in_features()) + "]");
  }
};

}  // namespace pqlab::methods

PQLAB_PLUGIN(method, svdquant, pqlab::methods::Svdquant,
             "SVDQuant: searched smoothing, a 16-bit rank-r branch from the SVD (refined), the residual quantized RTN")
