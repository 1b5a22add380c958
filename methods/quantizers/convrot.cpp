// convrot: ConvRot (arXiv 2512.03673; methods.md 5): a block-diagonal regular Hadamard rotation
// of every quantized layer's input (block 256 by default; the regular H_{4^k} maps a constant
// vector to itself, so tokens with a large common offset do not become channel outliers), the
// weights rotated offline, then round-to-nearest. No calibration. ConvRot zero-pads K to a
// multiple of the block; here a ragged tail is rotated in smaller regular blocks instead, so
// layers keep their shapes (framework/quant/rotation.h). ConvRot's own quantizer (per-token
// activations, per-channel weights) is one choice of formats here. With an ordering, the rotated
// channels are reordered within each block: H P is again one dense block, so it costs nothing.
// Tests: tests/methods/quantizers/convrot_test.cpp
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

struct ConvrotConfig {
  QuantTargets targets;
  int64_t block = 256;
  std::string hadamard = "regular";
  SiteOrderingKeys order;
  template <class IO> static void map(IO& io, ConvrotConfig& c) {
    QuantTargets::map_formats(io, c.targets);
    io.field("block", c.block, "rotation block along K (regular: 4^k; sylvester: 2^k)", config::in_range(2, 1 << 20));
    io.field("hadamard", c.hadamard, "regular (ConvRot) or sylvester (its 'Standard' ablation)",
             config::one_of({"regular", "sylvester"}));
    SiteOrderingKeys::map(io, c.order);
    QuantTargets::map_layers(io, c.targets);
    int64_t v = c.block;
    const int64_t base = c.hadamard == "regular" ? 4 : 2;
    while (v > 1 && v % base == 0) v /= base;
    io.check(v == 1, "block", c.hadamard == "regular" ? "a regular Hadamard block must be a power of 4 (4, 16, 64, 256, ...)"
                                                      : "a Sylvester Hadamard block must be a power of 2");
  }
};

class Convrot final : public ConfiguredPlugin<Method, ConvrotConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override {
    const std::string order = cfg_.order.active() ? " + " + cfg_.order.ordering->describe() : "";
    return "convrot " + weight_format_label() + " / " + act_format_label() + ", " + cfg_.hadamard + " block " +
           std::to_string(cfg_.block) + order;
  }
  std::string weight_format_label() const override { return cfg_.targets.weight_label(); }
  std::string act_format_label() const override { return cfg_.targets.act_label(); }
  bool selects(const std::string& key) const override { return cfg_.targets.selects(key); }
  CalibrationNeeds needs() const override { return cfg_.order.needs(true); }

  MethodReport apply(ModelAdapter& model, const Calibration* cal) const override {
    MethodReport report;
    const BlockHadamard kind = cfg_.hadamard == "regular" ? BlockHadamard::regular : BlockHadamard::sylvester;
    const std::vector<LinearSite*> sites = model.linear_sites();
    for (size_t i = 0; i < sites.size(); ++i) {
      LinearSite& s = *sites[i];
      if (!selects(s.key())) continue;
      {
        PhaseTimer timer(report, "rotation");
        auto rot = std::make_shared<BlockRotation>(s.in_features(), cfg_.block, kind, s.weight().device());
        s.set_weight(rot->fold_weight(s.weight()));
        s.set_input_transform(rot);
        SiteRecord rec;
        rec.key = s.key();
        std::string layout;
        for (const auto& r : rot->runs())
          layout += (layout.empty() ? "" : " + ") + std::to_string(r.count) + "x" + std::to_string(r.size);
        rec.texts = {{"rotation", rot->describe()}, {"blocks", layout}};
        report.sites.push_back(std::move(rec));
      }
      cfg_.order.apply(s, cal, i, cfg_.block, report);
      PhaseTimer timer(report, "quantization");
      quantize_site(s, cfg_.targets.weight_format.impl, cfg_.targets.act_format.impl);
    }
    return report;
  }
};

}  // namespace pqlab::methods

PQLAB_PLUGIN(method, convrot, pqlab::methods::Convrot,
             "ConvRot: block-diagonal regular Hadamard rotation (block 256) of every quantized layer's input, then RTN")
