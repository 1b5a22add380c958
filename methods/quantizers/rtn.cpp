// rtn: round-to-nearest fake quantization, the baseline of every table. Weights are quantized
// once per output row with groups along K; activations dynamically per token and group along K,
// each with its own format (W4A4, W4A16, W8A8, NVFP4 W4A4, ...). With an `ordering` other than
// identity, the input channels of every permutation site the adapter declares (and whose
// consumers are all quantized here) are first reordered by it and the permutation absorbed into
// the producers (or a gather at norm outputs), so the groups hold reordered channels: PermuQuant's
// reordering without its acceptance rule.
// Tests: tests/methods/quantizers/rtn_test.cpp
#include <ATen/ATen.h>

#include "framework/interfaces/model_adapter.h"
#include "framework/quant/reorder.h"
#include "framework/registry/registries.h"
#include "methods/quantizers/quant_targets.h"

namespace pqlab::methods {

struct RtnConfig {
  QuantTargets targets;
  Plugin<Ordering> ordering{"identity", nullptr};
  int64_t ordering_bucket = -1;
  template <class IO> static void map(IO& io, RtnConfig& c) {
    QuantTargets::map_formats(io, c.targets);
    config::plugin_field(io, "ordering", c.ordering,
                         "channel ordering at the model's permutation sites before quantizing (pqlab list ordering)");
    io.field("ordering_bucket", c.ordering_bucket,
             "calibration timestep bucket the ordering's statistics come from; -1 = pooled over every step",
             config::in_range(-1, 1e6));
    QuantTargets::map_layers(io, c.targets);
  }
};

class Rtn final : public ConfiguredPlugin<Method, RtnConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override {
    const std::string order = cfg_.ordering->is_identity() ? "" : " + " + cfg_.ordering->describe();
    return "rtn " + weight_format_label() + " / " + act_format_label() + order;
  }
  std::string weight_format_label() const override { return cfg_.targets.weight_label(); }
  std::string act_format_label() const override { return cfg_.targets.act_label(); }
  bool selects(const std::string& key) const override { return cfg_.targets.selects(key); }
  CalibrationNeeds needs() const override {
    CalibrationNeeds n;
    n.statistics = !cfg_.ordering->is_identity() && cfg_.ordering->needs_statistics();
    return n;
  }
  MethodReport apply(ModelAdapter& model, const Calibration* calibration) const override {
    MethodReport report;
    if (!cfg_.ordering->is_identity()) {
      ReorderOptions o;
      o.ordering = cfg_.ordering.impl.get();
      o.ordering_name = cfg_.ordering.name;
      o.bucket = cfg_.ordering_bucket;
      o.selects = cfg_.targets.selector();
      report = reorder_sites(model, calibration, o);
    }
    quantize_selected(model, cfg_.targets.selector(), cfg_.targets.weight_format.impl, cfg_.targets.act_format.impl,
                      report);
    return report;
  }
};

}  // namespace pqlab::methods

PQLAB_PLUGIN(method, rtn, pqlab::methods::Rtn, "round-to-nearest weights and dynamic activations (baseline)")
