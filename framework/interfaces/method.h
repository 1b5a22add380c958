// A PTQ method (RTN, SmoothQuant, QuaRot, SVDQuant, PermuQuant, ...): transforms a loaded model's
// linear sites offline (weights) and attaches runtime quantizers (activations).
#pragma once
#include <string>

namespace pqlab {
namespace config { class ConfigIo; }
class ModelAdapter;

class Method {
 public:
  virtual ~Method() = default;
  virtual void map_config(config::ConfigIo& io) = 0;
  virtual std::string describe() const = 0;
  /// Short weight/activation format labels for result tables ("int4 g64", "fp" when none).
  virtual std::string weight_format_label() const = 0;
  virtual std::string act_format_label() const = 0;
  /// Applies the method in place. The model is loaded; calibration statistics, when a method
  /// needs them, come through the model (later issues).
  virtual void apply(ModelAdapter& model) const = 0;
  /// Whether the linear site `key` is quantized by this method (after skip/only globs).
  virtual bool selects(const std::string& key) const = 0;
};

}  // namespace pqlab
