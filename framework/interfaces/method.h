// A PTQ method (RTN, SmoothQuant, QuaRot, SVDQuant, PermuQuant, ...): transforms a loaded model's
// linear sites offline (weights) and attaches runtime quantizers (activations).
#pragma once
#include <ATen/core/Tensor.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace pqlab {
namespace config { class ConfigIo; }
class ModelAdapter;
struct Calibration;

/// What a method needs from the calibration stage; a method that needs nothing skips it.
struct CalibrationNeeds {
  bool statistics = false;  ///< per-channel input statistics (framework/experiment/calibration.h)
  int64_t keep_rows = 0;    ///< reservoir rows per site and bucket it reads (0 = none)
};

/// What a method decided at one permutation site (framework/interfaces/permutation_site.h).
struct PermutationDecision {
  std::string kind;                    ///< the site's kind (flux: norm_mod, attn_v_heads, mlp_hidden, ...)
  std::vector<std::string> consumers;  ///< the linear sites whose input columns take the permutation
  bool gather = false;                 ///< absorbed by a gather at the consumers' input, not by producer rows
  bool accepted = false;               ///< the permutation was absorbed
  /// The acceptance rule's calibration error without and with the permutation (NaN where the
  /// method has no acceptance rule and applies every permutation).
  double error_orig = std::nan(""), error_perm = std::nan("");
  at::Tensor permutation;              ///< int64 [K] on the CPU: the ordering's proposal (new j takes old perm[j])
};

/// What a method decided for one linear site (smoothing scales and alpha, low-rank rank and
/// iterations, rotation kind and seed, search errors), written to /variants/<label>/sites/<key>:
/// numbers and texts as attributes, tensors as datasets.
struct SiteRecord {
  std::string key;
  std::vector<std::pair<std::string, double>> numbers;
  std::vector<std::pair<std::string, std::string>> texts;
  std::vector<std::pair<std::string, at::Tensor>> tensors;  ///< any dtype and device; written as they are
};

/// What Method::apply decided and how long it took, stored with the variant in the result file.
struct MethodReport {
  std::vector<PermutationDecision> permutations;  ///< one per site the method considered, in model order
  std::vector<SiteRecord> sites;                  ///< per linear site, model order (methods that decide per layer)
  std::vector<std::pair<std::string, double>> seconds;  ///< wall seconds per phase ("ordering", "acceptance", ...)

  /// Adds `s` seconds to phase `phase` (appended the first time, so phases keep their first order).
  void add_seconds(const std::string& phase, double s) {
    for (auto& [name, v] : seconds)
      if (name == phase) {
        v += s;
        return;
      }
    seconds.emplace_back(phase, s);
  }
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
  /// else null. Returns what it decided (permutations considered and accepted, phase times).
  virtual MethodReport apply(ModelAdapter& model, const Calibration* calibration) const = 0;
  /// Whether the linear site `key` is quantized by this method (after skip/only globs).
  virtual bool selects(const std::string& key) const = 0;
};

}  // namespace pqlab
