// Reordering the input channels at a model's permutation sites by a channel ordering, optionally
// behind PermuQuant's acceptance rule: the one code path of every method that takes an
// `ordering` (rtn applies every proposal; permuquant keeps a proposal only where it lowers the
// calibration error). Math and the choices behind it: README "PermuQuant", methods.md 1.4-1.7.
// Tests: tests/framework/quant/reorder_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "framework/interfaces/method.h"

namespace pqlab {

class ModelAdapter;
class InputTransform;
class LinearSite;
class NumberFormat;
class Ordering;
struct Calibration;

/// What the acceptance error E measures (methods.md 1.4: the paper's E is unknown; layer_output
/// is the recommended definition, the others are ablations).
enum class AcceptError {
  layer_output,  ///< sum over consumers c of ||X W_c^T - Q_A(X P) Q_W(W_c P)^T||^2
  weight,        ///< sum over consumers c of ||W_c P - Q_W(W_c P)||^2
  activation,    ///< ||X P - Q_A(X P)||^2 (needs an activation format)
};

/// "layer_output" / "weight" / "activation".
const char* accept_error_name(AcceptError e);

/// PermuQuant's rule: accept P iff (E_orig - E_P) / E_orig > tau, with E on calibration reservoir
/// rows, in the deployment formats.
struct AcceptanceRule {
  double tau = 0;
  AcceptError error = AcceptError::layer_output;
  std::shared_ptr<const NumberFormat> weight_format;  ///< required for layer_output and weight
  std::shared_ptr<const NumberFormat> act_format;     ///< null = full-precision inputs
  int64_t bucket = -1;  ///< reservoir rows of this calibration bucket; -1 = pooled over every bucket
  /// A transform the method applies after the permutation, for K channels (permuquant_h's
  /// permute-then-rotate): E is then measured on T(X P) and T's fold of W P, the values the
  /// quantizers will see. Null: none.
  std::function<std::shared_ptr<const InputTransform>(int64_t k)> then_transform;
};

/// The acceptance error at one site for a candidate permutation. rows: float32 [R, K] input rows
/// of the site (in the consumers' current column order); weights: [N_c, K] per consumer, any
/// float dtype, on rows' device; perm: int64 [K] (undefined = identity). Products and sums run in
/// float64 on the quantized float32 values, so two candidates that quantize identically get the
/// same E up to ~1e-16 relative, far below any tau a user sets (float32 products would let
/// summation-order noise of ~1e-7 decide acceptances at tau = 0). UsageError when the rule needs
/// a format it lacks.
double permutation_error(const at::Tensor& rows, const std::vector<at::Tensor>& weights, const at::Tensor& perm,
                         const AcceptanceRule& rule);

struct ReorderOptions {
  const Ordering* ordering = nullptr;
  std::string ordering_name;  ///< for messages
  int64_t bucket = -1;        ///< calibration bucket of the ordering's statistics; -1 = pooled
  /// Whether the method quantizes a linear site; a permutation site is reordered only when every
  /// one of its consumers is selected (the others would gain nothing and still pay a gather).
  std::function<bool(const std::string&)> selects;
  const AcceptanceRule* acceptance = nullptr;  ///< null: every proposal is absorbed
};

/// Proposes a permutation at every permutation site of `model` whose consumers are all selected,
/// tests it with the acceptance rule when there is one, and absorbs the accepted ones
/// (absorb_permutation: producer rows, or a gather at norm outputs), in full precision, before the
/// method quantizes. Site i's ordering seed is i. Returns one decision per site considered (model
/// order) and the seconds spent in "ordering", "acceptance" and "absorption". calibration may be
/// null when neither the ordering nor the rule reads it (else UsageError).
MethodReport reorder_sites(ModelAdapter& model, const Calibration* calibration, const ReorderOptions& opts);

/// Quantizes one site: its weight in `weight_format` (LinearSite::quantize_weight) and its
/// activations in `act_format` (null = full precision). Methods that transform site by site call
/// it right after each site's transform, so that only one unquantized transformed weight exists
/// at a time (a FLUX variant would otherwise hold a second 24 GB copy before quantizing).
void quantize_site(LinearSite& site, const std::shared_ptr<const NumberFormat>& weight_format,
                   const std::shared_ptr<const NumberFormat>& act_format);

/// The round-to-nearest step that follows: every site `selects` picks gets its weight quantized
/// in `weight_format` (LinearSite::quantize_weight) and `act_format` (null = full-precision
/// inputs) for its activations; the seconds go to `report` as phase "quantization".
void quantize_selected(ModelAdapter& model, const std::function<bool(const std::string&)>& selects,
                       const std::shared_ptr<const NumberFormat>& weight_format,
                       const std::shared_ptr<const NumberFormat>& act_format, MethodReport& report);

}  // namespace pqlab
