#include "framework/quant/linear_site.h"

#include <ATen/ATen.h>

#include "framework/core/error.h"
#include "framework/interfaces/number_format.h"

namespace pqlab {

LinearSite::LinearSite(std::string key, std::string role, at::Tensor weight, at::Tensor bias)
    : key_(std::move(key)), role_(std::move(role)), weight_(std::move(weight)), bias_(std::move(bias)) {
  if (weight_.dim() != 2) throw RuntimeError("linear site '" + key_ + "': weight must be 2-D");
}

int64_t LinearSite::in_features() const { return weight_.size(1); }
int64_t LinearSite::out_features() const { return weight_.size(0); }

void LinearSite::set_weight(const at::Tensor& w) {
  if (w.sizes() != weight_.sizes())
    throw RuntimeError("linear site '" + key_ + "': new weight shape differs from the old one");
  weight_ = w.to(weight_.device(), weight_.scalar_type()).contiguous();
}

namespace {
template <class F> auto naming_layer(const std::string& key, int64_t k, F&& f) {
  try {
    return f();
  } catch (const UsageError& e) {
    throw UsageError("layer '" + key + "' (K=" + std::to_string(k) + "): " + e.what());
  }
}
}  // namespace

void LinearSite::quantize_weight(const NumberFormat& f) {
  set_weight(naming_layer(key_, in_features(), [&] { return f.fake_quant(weight_); }));
}

void LinearSite::set_act_format(std::shared_ptr<const NumberFormat> f) {
  // One row of zeros in the model's dtype runs the format's shape checks for this K.
  if (f) naming_layer(key_, in_features(), [&] { return f->fake_quant(at::zeros({1, in_features()}, weight_.options())); });
  act_format_ = std::move(f);
}

at::Tensor LinearSite::forward(const at::Tensor& x) const {
  const at::Tensor in = act_format_ ? act_format_->fake_quant(x) : x;
  at::Tensor out = at::linear(in, weight_, bias_);
  if (tap_) tap_(*this, in, out);
  return out;
}

}  // namespace pqlab
