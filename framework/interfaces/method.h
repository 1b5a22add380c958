// A PTQ method (RTN, SmoothQuant, QuaRot, SVDQuant, PermuQuant, ...): transforms a loaded model's
// linear sites offline (weights) and attaches runtime quantizers (activations).
#pragma once
#include <cstdint>
#include <string>

namespace pqlab {
namespace config { class ConfigIo; }
class ModelAdapter;
struct Calibration;

/// What a method needs from the calibration stage; a method that needs nothing skips it.
struct CalibrationNeeds {
  bool statistics = false;  ///< per-channel input statistics (framework/experiment/calibration.h)
  int64_t keep_rows = 0;    ///< reservoir rows per site and bucket it reads (0 = none)
};

class Method {
 public:
  virtual ~Method() = default;
  virtual void map_config(config::ConfigIo& io) = 0;
  virtual std::string describe() const = 0;
  /// Short weight/activation format labels for result tables ("int4 g64", "fp" when none).
  virtual std::string weight_format_label() const = 0;
  virtual std::string act_format_label() const = 0;
  virtual CalibrationNeeds needs() const { return {}; }
  /// Applies the method to a loaded model in full precision, through the sites' setters
  /// (set_weight, set_act_format, set_input_transform, set_low_rank); never by writing into a
  /// site's tensors in place: the runner keeps the full-precision state by handle. `calibration` holds the
  /// calibration stage's statistics when the run has one (always when needs() asks for it),
  /// else null.
  virtual void apply(ModelAdapter& model, const Calibration* calibration) const = 0;
  /// Whether the linear site `key` is quantized by this method (after skip/only globs).
  virtual bool selects(const std::string& key) const = 0;
};

}  // namespace pqlab
