// quarot: QuaRot's rotation (arXiv 2404.00456; methods.md 4) as it maps to diffusion
// transformers: a random-sign Hadamard rotation x -> x D H_K / sqrt(K) at every quantized layer's
// input, applied online with a fast Walsh-Hadamard transform (H_m (x) H_2^n for K = m 2^n: FLUX's
// 3072 = 12 x 256, 12288 = 12 x 1024, 15360 = 60 x 256), the weights rotated offline, then
// round-to-nearest. QuaRot's residual-stream rotation is not used: FLUX's AdaLN modulation
// (a per-sample diagonal) and gated residual break its invariance (methods.md 4.2), so every
// rotation here is online. No calibration unless an ordering asks for it (it then sorts the
// rotated channels, measured on rotated reservoir rows, and is a gather after the rotation).
// Not done: QuaRot's split of the V/O rotation into a per-head part folded into v and an online
// part over heads; in this simulation it would change the Hadamard matrix used, not its cost.
// Tests: tests/methods/quantizers/quarot_test.cpp
#include <ATen/ATen.h>

#include <memory>

#include "framework/interfaces/model_adapter.h"
#include "framework/quant/linear_site.h"
#include "framework/quant/reorder.h"
#include "framework/quant/rotation.h"
#include "methods/quantizers/phase_timer.h"
#include "methods/quantizers/quant_targets.h"
#include "methods/quantizers/site_ordering.h"

namespace pqlab::methods {

struct QuarotConfig {
  QuantTargets targets;
  int64_t seed = 0;
  bool random_signs = true;
  SiteOrderingKeys order;
  template <class IO> static void map(IO& io, QuarotConfig& c) {
    QuantTargets::map_formats(io, c.targets);
    io.field("seed", c.seed, "seed of the random signs; layer i uses seed + i", config::in_range(0, 1e15));
    io.field("random_signs", c.random_signs, "multiply by random signs D before H (QuIP#'s randomised Hadamard)");
    SiteOrderingKeys::map(io, c.order);
    QuantTargets::map_layers(io, c.targets);
  }
};

class Quarot final : public ConfiguredPlugin<Method, QuarotConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override {
    const std::string order = cfg_.order.active() ? " + " + cfg_.order.ordering->describe() : "";
    return "quarot " + weight_format_label() + " / " + act_format_label() + ", online Hadamard" +
           (cfg_.random_signs ? " (seed " + std::to_string(cfg_.seed) + ")" : "") + order;
  }
  std::string weight_format_label() const override { return cfg_.targets.weight_label(); }
  std::string act_format_label() const override { return cfg_.targets.act_label(); }
  bool selects(const std::string& key) const override { return cfg_.targets.selects(key); }
  CalibrationNeeds needs() const override { return cfg_.order.needs(true); }

  MethodReport apply(ModelAdapter& model, const Calibration* cal) const override {
    MethodReport report;
    const std::vector<LinearSite*> sites = model.linear_sites();
    for (size_t i = 0; i < sites.size(); ++i) {
      LinearSite& s = *sites[i];
      if (!selects(s.key())) continue;
      {
        PhaseTimer timer(report, "rotation");
        const uint64_t seed = static_cast<uint64_t>(cfg_.seed) + i;
        auto rot = std::make_shared<HadamardRotation>(s.in_features(), seed, cfg_.random_signs, s.weight().device());
        s.set_weight(rot->fold_weight(s.weight()));
        s.set_input_transform(rot);
        SiteRecord rec;
        rec.key = s.key();
        rec.texts = {{"rotation", rot->describe()}};
        rec.numbers = {{"seed", static_cast<double>(seed)}, {"random_signs", cfg_.random_signs ? 1.0 : 0.0}};
        report.sites.push_back(std::move(rec));
      }
      cfg_.order.apply(s, cal, i, 0, report);
      PhaseTimer timer(report, "quantization");
      quantize_site(s, cfg_.targets.weight_format.impl, cfg_.targets.act_format.impl);
    }
    return report;
  }
};

}  // namespace pqlab::methods

PQLAB_PLUGIN(method, quarot, pqlab::methods::Quarot,
             "QuaRot: random-sign Hadamard rotation of every quantized layer's input (online FWHT), then RTN")
