// What every quantizer of the RTN family shares (rtn, permuquant, and the methods of issue 11):
// the deployment formats, the layers it quantizes (only / skip globs), and their table labels.
// Header-only, like methods/orderings/sorted_ordering.h; configs map its two halves where their
// keys belong, so each method's keys keep their order in explain output and resolved YAML.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "framework/core/glob.h"
#include "framework/registry/registries.h"

namespace pqlab::methods {

struct QuantTargets {
  Plugin<NumberFormat> weight_format;
  Plugin<NumberFormat> act_format;  ///< empty = weight-only (activations stay full precision)
  std::vector<std::string> only = {"*"};
  std::vector<std::string> skip;

  /// weight_format (required) and act_format.
  template <class IO> static void map_formats(IO& io, QuantTargets& c) {
    config::plugin_field(io, "weight_format", c.weight_format, "format of the weights (per output row, groups along K)",
                         config::required());
    config::plugin_field(io, "act_format", c.act_format,
                         "format of the input activations (per token, groups along K); omit for weight-only");
  }
  /// only and skip.
  template <class IO> static void map_layers(IO& io, QuantTargets& c) {
    io.field("only", c.only, "globs of layer keys to quantize");
    io.field("skip", c.skip, "globs of layer keys to leave in full precision (wins over 'only')");
  }

  bool selects(const std::string& key) const { return glob_match_any(only, key) && !glob_match_any(skip, key); }
  std::function<bool(const std::string&)> selector() const {
    return [this](const std::string& key) { return selects(key); };
  }
  std::string weight_label() const { return weight_format->describe(); }
  std::string act_label() const { return act_format ? act_format->describe() : "fp"; }
};

}  // namespace pqlab::methods
