#include "framework/quant/linear_site.h"

#include <ATen/ATen.h>

#include "framework/core/error.h"
#include "framework/interfaces/number_format.h"
#include "framework/quant/input_transform.h"
#include "framework/quant/output_map.h"

namespace pqlab {

LinearSite::LinearSite(std::string key, std::string role, at::Tensor weight, at::Tensor bias)
    : key_(std::move(key)), role_(std::move(role)) {
  state_.weight = std::move(weight);
  state_.bias = std::move(bias);
  if (state_.weight.dim() != 2) throw RuntimeError("linear site '" + key_ + "': weight must be 2-D");
  out_features_ = state_.weight.size(0);
  in_features_ = state_.weight.size(1);
}

int64_t LinearSite::in_features() const { return in_features_; }
int64_t LinearSite::out_features() const { return out_features_; }

at::TensorOptions LinearSite::weight_options() const {
  if (state_.weight.defined()) return state_.weight.options();
  return at::TensorOptions().dtype(state_.packed_weight->dtype).device(state_.packed_weight->codes.device());
}

at::Tensor site_weight(const SiteState& st) {
  return st.weight.defined() ? st.weight : st.weight_format->decode(*st.packed_weight);
}

at::Tensor LinearSite::weight() const { return site_weight(state_); }

void LinearSite::set_weight(const at::Tensor& w) {
  if (w.dim() != 2 || w.size(0) != out_features_ || w.size(1) != in_features_)
    throw RuntimeError("linear site '" + key_ + "': new weight shape differs from the old one");
  const at::TensorOptions o = weight_options();
  state_.weight = w.to(o.device(), o.dtype().toScalarType()).contiguous();
  state_.packed_weight.reset();
  state_.weight_format.reset();
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

void LinearSite::quantize_weight(std::shared_ptr<const NumberFormat> f) {
  const at::Tensor w = weight();
  if (!pack_quantized_) {
    set_weight(naming_layer(key_, in_features(), [&] { return f->fake_quant(w); }));
    return;
  }
  state_.packed_weight = std::make_shared<const EncodedTensor>(naming_layer(key_, in_features(), [&] { return f->encode(w); }));
  state_.weight_format = std::move(f);
  state_.weight = at::Tensor();
}

void LinearSite::set_act_format(std::shared_ptr<const NumberFormat> f) {
  // One row of zeros in the model's dtype runs the format's shape checks for this K.
  if (f) naming_layer(key_, in_features(), [&] { return f->fake_quant(at::zeros({1, in_features()}, weight_options())); });
  state_.act_format = std::move(f);
}

void LinearSite::set_bias(const at::Tensor& b) {
  if (!state_.bias.defined() || b.sizes() != state_.bias.sizes())
    throw RuntimeError("linear site '" + key_ + "': new bias shape differs from the old one (or the site has none)");
  state_.bias = b.to(state_.bias.device(), state_.bias.scalar_type()).contiguous();
}

void LinearSite::set_low_rank(at::Tensor a, at::Tensor b) {
  if (a.defined() != b.defined())
    throw RuntimeError("linear site '" + key_ + "': a low-rank branch needs both A and B");
  if (a.defined() && (a.dim() != 2 || b.dim() != 2 || a.size(1) != in_features() || b.size(0) != out_features() ||
                      a.size(0) != b.size(1)))
    throw RuntimeError("linear site '" + key_ + "': low-rank A must be [r, " + std::to_string(in_features()) +
                       "] and B [" + std::to_string(out_features()) + ", r]");
  state_.low_rank_a = a.defined() ? a.to(weight_options().device()).contiguous() : a;
  state_.low_rank_b = b.defined() ? b.to(weight_options().device()).contiguous() : b;
}

namespace {
void compose(at::Tensor& order, const at::Tensor& perm, int64_t n, const at::Device& device, const std::string& key) {
  if (perm.dim() != 1 || perm.size(0) != n)
    throw RuntimeError("linear site '" + key + "': a channel order needs " + std::to_string(n) + " entries");
  const at::Tensor p = perm.to(device, at::kLong);
  order = order.defined() ? order.index_select(0, p) : p.contiguous();
}
}  // namespace

void LinearSite::compose_input_map(std::shared_ptr<const InputTransform> m) {
  state_.input_map = TransformChain::then(state_.input_map, std::move(m));
}

void LinearSite::compose_output_map(std::shared_ptr<const OutputMap> m) {
  state_.output_map = OutputMapChain::then(state_.output_map, std::move(m));
}

void LinearSite::permute_input_order(const at::Tensor& perm) {
  compose(state_.input_order, perm, in_features_, weight_options().device(), key_);
}
void LinearSite::permute_output_order(const at::Tensor& perm) {
  compose(state_.output_order, perm, out_features_, weight_options().device(), key_);
}
void LinearSite::permute_column_order(const at::Tensor& perm) {
  compose(state_.column_order, perm, in_features_, weight_options().device(), key_);
}

at::Tensor LinearSite::compute(const at::Tensor& x, const SiteState& st) const {
  const at::Tensor xt = st.input_transform ? st.input_transform->apply(x) : x;
  const at::Tensor in = st.act_format ? st.act_format->fake_quant(xt) : xt;
  at::Tensor out = at::linear(in, site_weight(st), st.bias);
  if (st.low_rank_a.defined()) {
    const at::Tensor lr = at::linear(at::linear(xt.to(st.low_rank_a.scalar_type()), st.low_rank_a), st.low_rank_b);
    out = out + lr.to(out.scalar_type());
  }
  return out;
}

at::Tensor LinearSite::forward(const at::Tensor& x) const {
  at::Tensor out = compute(x);
  if (tap_) tap_(*this, x, out);
  return out;
}

}  // namespace pqlab
