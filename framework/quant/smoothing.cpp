#include "framework/quant/smoothing.h"

#include <ATen/ATen.h>

#include "framework/interfaces/number_format.h"

namespace pqlab {

at::Tensor smoothing_scales(const at::Tensor& act_absmax, const at::Tensor& weight_absmax, double alpha, double beta) {
  const at::Tensor x = act_absmax.to(at::kDouble).clamp_min(1e-5);
  const at::Tensor w = weight_absmax.to(act_absmax.device(), at::kDouble).clamp_min(1e-5);
  return x.pow(alpha) / w.pow(beta);
}

double layer_output_error(const at::Tensor& ref, const at::Tensor& tx, const at::Tensor& w, const at::Tensor& a,
                          const at::Tensor& b, const std::shared_ptr<const NumberFormat>& weight_format,
                          const std::shared_ptr<const NumberFormat>& act_format) {
  const at::Tensor x32 = tx.to(at::kFloat);
  const at::Tensor qx = (act_format ? act_format->fake_quant(x32) : x32).to(at::kDouble);
  const at::Tensor w32 = w.to(at::kFloat);
  const at::Tensor qw = (weight_format ? weight_format->fake_quant(w32) : w32).to(at::kDouble);
  at::Tensor out = at::matmul(qx, qw.t());
  if (a.defined()) out = out + at::matmul(at::matmul(x32.to(at::kDouble), a.to(at::kDouble).t()), b.to(at::kDouble).t());
  return (ref - out).pow(2).sum().item<double>();
}

}  // namespace pqlab
