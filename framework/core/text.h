// Text for messages and files, written once: tensor shapes and doubles.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

namespace pqlab {

/// "[2, 4096, 64]".
std::string shape_str(c10::IntArrayRef shape);
inline std::string shape_str(const at::Tensor& t) { return shape_str(t.sizes()); }

/// The shortest decimal that reads back as the same double; finite values without a '.' or an
/// exponent get ".0" so that they stay floats when read back; "nan", "inf", "-inf" otherwise.
std::string format_double(double v);

}  // namespace pqlab
