// Grouping along the last axis and finite-only amax (see grouping.h).
#include "methods/formats/grouping.h"

#include <ATen/ATen.h>

#include <cmath>
#include <sstream>

#include "framework/core/error.h"

namespace pqlab::methods {

GroupedView group_last_dim(const at::Tensor& x, const config::GroupSize& group_size, bool pad,
                           const std::string& format) {
  if (!x.defined()) throw UsageError(format + ": input tensor is undefined");
  const auto st = x.scalar_type();
  if (st != at::kFloat && st != at::kBFloat16 && st != at::kHalf)
    throw UsageError(format + ": input dtype " + std::string(c10::toString(st)) +
                     " is not supported (float32, bfloat16 or float16)");
  if (x.dim() == 0) throw UsageError(format + ": input must have at least one dimension [..., K]");
  if (!valid_group_size(group_size))
    throw UsageError(format + ": invalid group_size " + std::to_string(group_size.value));

  GroupedView g;
  g.shape = x.sizes().vec();
  g.dtype = st;
  g.k = x.size(-1);
  g.rows = g.k == 0 ? 0 : x.numel() / g.k;
  if (g.k == 0) {
    int64_t r = 1;
    for (size_t i = 0; i + 1 < g.shape.size(); ++i) r *= g.shape[i];
    g.rows = r;
  }
  at::Tensor rows = x.to(at::kFloat).reshape({g.rows, g.k});

  if (group_size.is_tensor()) {
    g.per_tensor = true;
    g.padded_k = g.k;
    g.group_size = g.rows * g.k;
    g.groups = 1;
    g.x = rows.reshape({1, 1, g.group_size}).contiguous();
    return g;
  }
  const int64_t G = group_size.is_row() ? g.k : group_size.value;
  g.group_size = G;
  if (G == 0 || g.k % G == 0) {
    g.padded_k = g.k;
  } else if (!pad) {
    throw UsageError(format + ": last dimension K=" + std::to_string(g.k) +
                     " is not a multiple of group_size " + std::to_string(G) +
                     " (set pad: true to zero-pad the last group)");
  } else {
    g.padded_k = (g.k + G - 1) / G * G;
    rows = at::constant_pad_nd(rows, {0, g.padded_k - g.k}, 0);
  }
  g.groups = G == 0 ? 0 : g.padded_k / G;
  g.x = rows.reshape({g.rows, g.groups, G}).contiguous();
  return g;
}

at::Tensor restore_shape(const at::Tensor& rows_kp, const std::vector<int64_t>& shape,
                         at::ScalarType dtype) {
  const int64_t k = shape.back();
  at::Tensor y = rows_kp;
  if (y.size(1) != k) y = y.narrow(1, 0, k);
  return y.reshape(shape).to(dtype);
}

at::Tensor ungroup(const at::Tensor& y, const GroupedView& g) {
  return restore_shape(y.reshape({g.rows, g.padded_k}), g.shape, g.dtype);
}

at::Tensor as_groups(const at::Tensor& rows_kp, const at::Tensor& scales, int64_t group_size) {
  const int64_t sr = scales.size(0), sg = scales.size(1);
  const int64_t g = sr * sg == 0 ? group_size : rows_kp.numel() / (sr * sg);
  return rows_kp.reshape({sr, sg, g});
}

at::Tensor finite_abs(const at::Tensor& x) {
  at::Tensor a = x.abs();
  return at::where(at::isfinite(a), a, at::zeros_like(a));
}

at::Tensor finite_amax(const at::Tensor& x, int64_t dim) {
  if (x.size(dim) == 0) {
    auto sizes = x.sizes().vec();
    sizes.erase(sizes.begin() + (dim < 0 ? dim + x.dim() : dim));
    return at::zeros(sizes, x.options().dtype(at::kFloat));
  }
  return finite_abs(x).amax(dim);
}

at::Tensor finite_amax(const at::Tensor& x) {
  if (x.numel() == 0) return at::zeros({}, x.options().dtype(at::kFloat));
  return finite_abs(x).max();
}

float finite_amax(const float* p, int64_t n) {
  float m = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    const float a = std::fabs(p[i]);
    if (std::isfinite(a) && a > m) m = a;
  }
  return m;
}

void throw_if_nan(const at::Tensor& x, const std::string& format) {
  at::Tensor nan = at::isnan(x);
  if (!nan.any().item<bool>()) return;
  const int64_t flat = nan.reshape({-1}).nonzero()[0][0].item<int64_t>();
  std::vector<int64_t> idx(static_cast<size_t>(x.dim()));
  int64_t rem = flat;
  for (int64_t d = x.dim() - 1; d >= 0; --d) {
    idx[static_cast<size_t>(d)] = rem % x.size(d);
    rem /= x.size(d);
  }
  std::ostringstream os;
  os << format << ": cannot encode NaN at index [";
  for (size_t i = 0; i < idx.size(); ++i) os << (i ? ", " : "") << idx[i];
  os << "] (the format has no NaN code)";
  throw RuntimeError(os.str());
}

at::Tensor scalar_like(const at::Tensor& like, float v) {
  return at::full({}, v, like.options().dtype(at::kFloat));
}

std::string group_label(const config::GroupSize& g) {
  if (g.is_tensor()) return "tensor";
  if (g.is_row()) return "channel";
  return "g" + std::to_string(g.value);
}

}  // namespace pqlab::methods
