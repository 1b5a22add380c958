// permuquant: PermuQuant (arXiv 2605.09503; methods.md 1). At every permutation site the adapter
// declares, the consumers' input channels are sorted by an ordering (default: the joint second
// moment E[x^2]^alpha * mean(W^2)^(1-alpha)) so that each contiguous quantization group holds
// channels of similar magnitude; the permutation is kept only where it lowers the calibration
// error by more than tau, measured on the calibration reservoir rows with weights and
// activations fake-quantized in the deployment formats; accepted permutations are absorbed into
// the producers (or a gather at norm outputs) in full precision; then weights and activations
// are quantized round-to-nearest exactly as rtn does. The paper's E, tau and calibration data are
// unknown [U]; the choices here are keys (accept_error, tau, accept_bucket) and documented in the
// README. Every decision goes to the result file (/variants/<label>/permutations).
// Tests: tests/methods/quantizers/permuquant_test.cpp
#include <ATen/ATen.h>

#include "framework/interfaces/model_adapter.h"
#include "framework/quant/reorder.h"
#include "framework/registry/registries.h"
#include "methods/quantizers/acceptance_keys.h"
#include "methods/quantizers/quant_targets.h"

namespace pqlab::methods {

struct PermuquantConfig {
  QuantTargets targets;
  Plugin<Ordering> ordering{"joint_second_moment", nullptr};
  int64_t ordering_bucket = -1;
  AcceptanceKeys accept;
  template <class IO> static void map(IO& io, PermuquantConfig& c) {
    QuantTargets::map_formats(io, c.targets);
    config::plugin_field(io, "ordering", c.ordering, "the channel ordering proposed at each permutation site");
    io.field("ordering_bucket", c.ordering_bucket,
             "calibration timestep bucket the ordering's statistics come from; -1 = pooled over every step",
             config::in_range(-1, 1e6));
    AcceptanceKeys::map(io, c.accept);
    QuantTargets::map_layers(io, c.targets);
    AcceptanceKeys::check(io, c.accept, c.targets);
  }
};

class Permuquant final : public ConfiguredPlugin<Method, PermuquantConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override {
    return "permuquant " + weight_format_label() + " / " + act_format_label() + " + " + cfg_.ordering->describe() +
           ", tau=" + std::to_string(cfg_.accept.tau).substr(0, 6) + " on " + cfg_.accept.accept_error;
  }
  std::string weight_format_label() const override { return cfg_.targets.weight_label(); }
  std::string act_format_label() const override { return cfg_.targets.act_label(); }
  bool selects(const std::string& key) const override { return cfg_.targets.selects(key); }
  CalibrationNeeds needs() const override {
    CalibrationNeeds n;
    // An identity ordering proposes nothing, so there is nothing to accept (the paired control).
    if (cfg_.ordering->is_identity()) return n;
    n.statistics = true;
    n.keep_rows = cfg_.accept.accept_rows;
    return n;
  }
  MethodReport apply(ModelAdapter& model, const Calibration* calibration) const override {
    MethodReport report;
    if (!cfg_.ordering->is_identity()) {
      AcceptanceRule rule = cfg_.accept.rule(cfg_.targets);
      ReorderOptions o;
      o.ordering = cfg_.ordering.impl.get();
      o.ordering_name = cfg_.ordering.name;
      o.bucket = cfg_.ordering_bucket;
      o.selects = cfg_.targets.selector();
      o.acceptance = &rule;
      report = reorder_sites(model, calibration, o);
    }
    quantize_selected(model, cfg_.targets.selector(), cfg_.targets.weight_format.impl, cfg_.targets.act_format.impl,
                      report);
    return report;
  }
};

}  // namespace pqlab::methods

PQLAB_PLUGIN(method, permuquant, pqlab::methods::Permuquant,
             "PermuQuant: channel ordering per permutation site, kept where it lowers calibration error, then RTN")
