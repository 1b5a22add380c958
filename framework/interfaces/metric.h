// A metric comparing a quantized tensor to its full-precision reference.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

namespace pqlab {
namespace config { class ConfigIo; }

class Metric {
 public:
  virtual ~Metric() = default;
  virtual void map_config(config::ConfigIo& io) = 0;
  virtual std::string describe() const = 0;
  /// reference, test: same shape, any float dtype; computed in float64. Returns a finite number
  /// or NaN when undefined (documented per metric).
  virtual double compute(const at::Tensor& reference, const at::Tensor& test) const = 0;
  /// Whether larger is better (for tables and plots).
  virtual bool higher_is_better() const = 0;
};

}  // namespace pqlab
