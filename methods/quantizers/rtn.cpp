// rtn: round-to-nearest fake quantization, the baseline of every table. Weights are quantized
// once per output row with groups along K; activations dynamically per token and group along K,
// each with its own format (W4A4, W4A16, W8A8, NVFP4 W4A4, ...).
// Tests: tests/methods/quantizers/rtn_test.cpp
#include <ATen/ATen.h>

#include "framework/core/glob.h"
#include "framework/quant/linear_site.h"
#include "framework/registry/registries.h"

namespace pqlab::methods {

struct RtnConfig {
  Plugin<NumberFormat> weight_format;
  Plugin<NumberFormat> act_format;  ///< empty = weight-only (activations stay full precision)
  std::vector<std::string> only = {"*"};
  std::vector<std::string> skip;
  template <class IO> static void map(IO& io, RtnConfig& c) {
    config::plugin_field(io, "weight_format", c.weight_format, "format of the weights (per output row, groups along K)",
                         config::required());
    config::plugin_field(io, "act_format", c.act_format,
                         "format of the input activations (per token, groups along K); omit for weight-only");
    io.field("only", c.only, "globs of layer keys to quantize");
    io.field("skip", c.skip, "globs of layer keys to leave in full precision (wins over 'only')");
  }
};

class Rtn final : public ConfiguredPlugin<Method, RtnConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override { return "rtn " + weight_format_label() + " / " + act_format_label(); }
  std::string weight_format_label() const override { return cfg_.weight_format->describe(); }
  std::string act_format_label() const override {
    return cfg_.act_format ? cfg_.act_format->describe() : "fp";
  }
  bool selects(const std::string& key) const override {
    return glob_match_any(cfg_.only, key) && !glob_match_any(cfg_.skip, key);
  }
  void apply(ModelAdapter& model, const Calibration* /*calibration: RTN needs none*/) const override {
    for (LinearSite* s : model.linear_sites()) {
      if (!selects(s->key())) continue;
      s->quantize_weight(cfg_.weight_format.impl);
      s->set_act_format(cfg_.act_format.impl);
    }
  }
};

}  // namespace pqlab::methods

PQLAB_PLUGIN(method, rtn, pqlab::methods::Rtn, "round-to-nearest weights and dynamic activations (baseline)")
