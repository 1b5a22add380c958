// smoothquant: SmoothQuant (arXiv 2211.10438; methods.md 3). Per quantized layer, per input
// channel s_j = max|X_j|^alpha / max|W_j|^(1-alpha) from the calibration statistics; the layer's
// quantizer sees X / s and W s, so activation outliers move into the weights. alpha is a key, or
// searched over a grid on the layer-output error of calibration reservoir rows with both sides
// fake-quantized in the deployment formats. Then an optional channel ordering of X / s, then
// round-to-nearest as rtn.
//
// Where s lives: folded offline into the producer where that is exact and the producer is not
// quantized by this method (FLUX: each norm output's modulation shift and scale rows, methods.md
// 3.3; the consumers' weights take W s); elsewhere (attention output, MLP hidden after GELU,
// single-block linear2) as an input transform, x / s in the activation quantize kernel as nunchaku
// applies SVDQuant's smoothing. Both give the same numbers up to round-off. The weight max is
// pooled over every consumer of the input (FLUX: one each, q, k and v being one fused linear).
// Tests: tests/methods/quantizers/smoothquant_test.cpp
#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <map>
#include <memory>

#include "framework/core/error.h"
#include "framework/experiment/calibration.h"
#include "framework/interfaces/model_adapter.h"
#include "framework/quant/input_transform.h"
#include "framework/quant/linear_site.h"
#include "framework/quant/producer_fold.h"
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
  bool fold = true;
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
    io.field("fold", c.fold,
             "fold 1/s into the producer where that is exact and the producer stays in full precision (a "
             "modulation's shift and scale rows, methods.md 3.3); elsewhere, or with false, x / s is applied at the "
             "layer's input (in the activation quantize kernel, as nunchaku does)");
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
    std::map<std::string, LinearSite*> by_key;
    for (LinearSite* s : sites) by_key[s->key()] = s;
    std::map<std::string, SiteRecord> records;
    // Folded first, into producers this method leaves in full precision (a modulation's shift and
    // scale rows): exact, and it changes nothing another quantizer sees.
    if (cfg_.fold) {
      for (const PermutationSite& ps : model.permutation_sites()) {
        bool ok = !ps.consumers.empty();
        for (const std::string& c : ps.consumers) ok = ok && by_key.count(c) && selects(c);
        for (const std::string& p : ps.producers) ok = ok && by_key.count(p) && !selects(p);
        if (!ok || !scales_foldable(ps, by_key.at(ps.consumers[0])->in_features())) continue;
        PhaseTimer timer(report, "smoothing");
        std::vector<LinearSite*> consumers;
        for (const std::string& c : ps.consumers) consumers.push_back(by_key.at(c));
        SiteRecord rec;
        const at::Tensor s = choose_scales(consumers, *cal, rec);
        fold_scales(ps, s, by_key);
        std::string into;
        for (const std::string& p : ps.producers) into += (into.empty() ? "" : ",") + p;
        rec.texts.emplace_back("folded_into", into);
        for (LinearSite* c : consumers) {
          rec.key = c->key();
          records[c->key()] = rec;
        }
      }
    }
    for (size_t i = 0; i < sites.size(); ++i) {
      LinearSite& site = *sites[i];
      if (!selects(site.key())) continue;
      auto it = records.find(site.key());
      if (it == records.end()) {
        PhaseTimer timer(report, "smoothing");
        SiteRecord rec;
        rec.key = site.key();
        const at::Tensor s = choose_scales({&site}, *cal, rec);
        auto scale = std::make_shared<ChannelScale>(s);
        site.set_weight(scale->fold_weight(site.weight()));
        site.set_input_transform(scale);
        report.sites.push_back(std::move(rec));
      } else {
        report.sites.push_back(std::move(it->second));
      }
      cfg_.order.apply(site, cal, i, 0, report);
      PhaseTimer timer(report, "quantization");
      quantize_site(site, cfg_.targets.weight_format.impl, cfg_.targets.act_format.impl);
    }
    return report;
  }

 private:
  // The scales of the input the consumers share: s = max|X|^alpha / max|W|^(1-alpha), the weight
  // max pooled over every consumer; alpha fixed or searched on the summed layer-output error.
  // float32 [K] on the CPU; what was decided goes to rec.
  at::Tensor choose_scales(const std::vector<LinearSite*>& consumers, const Calibration& cal, SiteRecord& rec) const {
    const LinearSite& first = *consumers[0];
    const at::Device dev = first.weight().device();
    const at::Tensor act_max = cal.pooled(first.key()).absmax.to(dev);
    at::Tensor w_max;
    for (const LinearSite* c : consumers) {
      const at::Tensor m = c->weight().to(at::kDouble).abs().amax(0);
      w_max = w_max.defined() ? at::maximum(w_max, m) : m;
    }
    double alpha = cfg_.alpha;
    if (cfg_.search) {
      at::Tensor rows = calibration_rows(cal, first.key(), -1, dev, "smoothquant's alpha search");
      rows = rows.narrow(0, 0, std::min<int64_t>(rows.size(0), cfg_.search_rows));
      std::vector<at::Tensor> refs;
      for (const LinearSite* c : consumers) refs.push_back(at::matmul(rows.to(at::kDouble), c->weight().to(at::kDouble).t()));
      auto error = [&](const at::Tensor& s) {
        double e = 0;
        for (size_t j = 0; j < consumers.size(); ++j)
          e += layer_output_error(refs[j], rows / s.to(at::kFloat), consumers[j]->weight().to(at::kDouble) * s, {}, {},
                                  cfg_.targets.weight_format.impl, cfg_.targets.act_format.impl);
        return e;
      };
      double best = std::numeric_limits<double>::infinity();
      std::vector<double> errors;
      for (int64_t g = 1; g < cfg_.grid; ++g) {
        const double a = static_cast<double>(g) / static_cast<double>(cfg_.grid);
        const double e = error(smoothing_scales(act_max, w_max, a, 1 - a));
        errors.push_back(e);
        if (e < best) best = e, alpha = a;  // the first of equal errors: the smallest alpha
      }
      rec.numbers.emplace_back("error", best);
      rec.numbers.emplace_back("error_unsmoothed", error(at::ones_like(act_max)));
      rec.tensors.emplace_back("search_errors", at::tensor(errors, at::kDouble));
    }
    const at::Tensor s = smoothing_scales(act_max, w_max, alpha, 1 - alpha).to(at::kCPU, at::kFloat);
    rec.numbers.emplace_back("alpha", alpha);
    rec.tensors.emplace_back("scales", s);
    return s;
  }
};

}  // namespace pqlab::methods

PQLAB_PLUGIN(method, smoothquant, pqlab::methods::Smoothquant,
             "SmoothQuant: per-channel scales max|X|^a / max|W|^(1-a) move activation outliers into the weights, then RTN")
