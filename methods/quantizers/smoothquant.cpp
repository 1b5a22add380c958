// smoothquant: SmoothQuant (arXiv 2211.10438; methods.md 3). Per quantized layer, per input
// channel s_j = max|X_j|^alpha / max|W_j|^(1-alpha) from the calibration statistics; the layer's
// quantizer sees X / s and W s, so activation outliers move into the weights. alpha is a key, or
// searched over a grid on the layer-output error of calibration reservoir rows with both sides
// fake-quantized in the deployment formats. Then an optional channel ordering of X / s, then
// round-to-nearest as rtn.
//
// Where s lives: as an input transform at each layer (x / s fused into the activation quantize
// kernel, as nunchaku applies SVDQuant's smoothing; deepcompressor's fuse_when_possible: false).
// Folding s into the producer instead (the modulation's shift and scale rows, methods.md 3.3, or a
// preceding linear) gives the same numbers up to round-off and is not done here: a FLUX GELU
// hidden layer has no linear producer anyway. The weight max is the layer's own: every
// quantized input of the FLUX adapter feeds one layer (q, k and v are one fused linear).
// Tests: tests/methods/quantizers/smoothquant_test.cpp
#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <memory>

#include "framework/core/error.h"
#include "framework/experiment/calibration.h"
#include "framework/interfaces/model_adapter.h"
#include "framework/quant/input_transform.h"
#include "framework/quant/linear_site.h"
#include "framework/quant/reorder.h"
#include "framework/quant/smoothing.h"
#include "methods/quantizers/phase_timer.h"
#include "methods/quantizers/quant_targets.h"
#include "methods/quantizers/site_ordering.h"

namespace pqlab::methods {

struct SmoothquantConfig {
  QuantTargets targets;
  double alpha = 0.5;
  bool search = false;
  int64_t grid = 20;
  int64_t search_rows = 256;
  SiteOrderingKeys order;
  template <class IO> static void map(IO& io, SmoothquantConfig& c) {
    QuantTargets::map_formats(io, c.targets);
    io.field("alpha", c.alpha, "migration strength: s = max|X|^alpha / max|W|^(1-alpha) (0.5 in the paper)",
             config::in_range(0, 1));
    io.field("search", c.search,
             "search alpha per layer over {1/grid, ..., (grid-1)/grid} on the layer-output error of calibration rows, "
             "both sides fake-quantized (instead of the fixed alpha)");
    io.field("grid", c.grid, "grid points of the alpha search", config::in_range(2, 1000));
    io.field("search_rows", c.search_rows, "calibration reservoir rows per layer the search scores on",
             config::in_range(1, 1e7));
    SiteOrderingKeys::map(io, c.order);
    QuantTargets::map_layers(io, c.targets);
  }
};

class Smoothquant final : public ConfiguredPlugin<Method, SmoothquantConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override {
    std::string a = cfg_.search ? "alpha searched (" + std::to_string(cfg_.grid) + " grid)"
                                : "alpha " + std::to_string(cfg_.alpha).substr(0, 4);
    const std::string order = cfg_.order.active() ? " + " + cfg_.order.ordering->describe() : "";
    return "smoothquant " + weight_format_label() + " / " + act_format_label() + ", " + a + order;
  }
  std::string weight_format_label() const override { return cfg_.targets.weight_label(); }
  std::string act_format_label() const override { return cfg_.targets.act_label(); }
  bool selects(const std::string& key) const override { return cfg_.targets.selects(key); }
  CalibrationNeeds needs() const override {
    CalibrationNeeds n;
    n.statistics = true;
    if (cfg_.search) n.keep_rows = cfg_.search_rows;
    return merged(n, cfg_.order.needs(false));
  }

  MethodReport apply(ModelAdapter& model, const Calibration* cal) const override {
    if (!cal) throw UsageError("smoothquant needs calibration statistics (calibration.samples > 0)");
    MethodReport report;
    const std::vector<LinearSite*> sites = model.linear_sites();
    for (size_t i = 0; i < sites.size(); ++i) {
      LinearSite& site = *sites[i];
      if (!selects(site.key())) continue;
      {
        PhaseTimer timer(report, "smoothing");
        report.sites.push_back(smooth(site, *cal));
      }
      cfg_.order.apply(site, cal, i, 0, report);
      PhaseTimer timer(report, "quantization");
      quantize_site(site, cfg_.targets.weight_format.impl, cfg_.targets.act_format.impl);
    }
    return report;
  }

 private:
  // Installs x / s at the site and W s as its weight; returns what it decided.
  SiteRecord smooth(LinearSite& site, const Calibration& cal) const {
    const at::Tensor w = site.weight();
    const at::Tensor act_max = cal.pooled(site.key()).absmax.to(w.device());
    const at::Tensor w_max = w.to(at::kDouble).abs().amax(0);
    SiteRecord rec;
    rec.key = site.key();
    double alpha = cfg_.alpha;
    if (cfg_.search) {
      at::Tensor rows = calibration_rows(cal, site.key(), -1, w.device(), "smoothquant's alpha search");
      rows = rows.narrow(0, 0, std::min<int64_t>(rows.size(0), cfg_.search_rows));
      const at::Tensor ref = at::matmul(rows.to(at::kDouble), w.to(at::kDouble).t());
      double best = std::numeric_limits<double>::infinity();
      std::vector<double> errors;
      for (int64_t g = 1; g < cfg_.grid; ++g) {
        const double a = static_cast<double>(g) / static_cast<double>(cfg_.grid);
        const at::Tensor s = smoothing_scales(act_max, w_max, a, 1 - a);
        const double e = layer_output_error(ref, rows / s.to(at::kFloat), w.to(at::kDouble) * s, {}, {},
                                            cfg_.targets.weight_format.impl, cfg_.targets.act_format.impl);
        errors.push_back(e);
        if (e < best) best = e, alpha = a;  // the first of equal errors: the smallest alpha
      }
      rec.numbers.emplace_back("error", best);
      rec.numbers.emplace_back("error_unsmoothed", layer_output_error(ref, rows, w, {}, {}, cfg_.targets.weight_format.impl,
                                                                      cfg_.targets.act_format.impl));
      rec.tensors.emplace_back("search_errors", at::tensor(errors, at::kDouble));
    }
    const at::Tensor s = smoothing_scales(act_max, w_max, alpha, 1 - alpha).to(at::kCPU, at::kFloat);
    auto scale = std::make_shared<ChannelScale>(s);
    site.set_weight(scale->fold_weight(w));
    site.set_input_transform(scale);
    rec.numbers.emplace_back("alpha", alpha);
    rec.tensors.emplace_back("scales", s);
    return rec;
  }
};

}  // namespace pqlab::methods

PQLAB_PLUGIN(method, smoothquant, pqlab::methods::Smoothquant,
             "SmoothQuant: per-channel scales max|X|^a / max|W|^(1-a) move activation outliers into the weights, then RTN")
