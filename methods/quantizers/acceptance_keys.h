// PermuQuant's acceptance-rule keys (tau, accept_error, accept_bucket, accept_rows), shared by
// permuquant and permuquant_h, and the AcceptanceRule they make (framework/quant/reorder.h).
// Header-only, like quant_targets.h; configs map it where the keys belong, so their order in
// explain output and resolved YAML stays.
#pragma once
#include <cstdint>
#include <string>

#include "framework/quant/reorder.h"
#include "methods/quantizers/quant_targets.h"

namespace pqlab::methods {

struct AcceptanceKeys {
  double tau = 0;
  std::string accept_error = "layer_output";
  int64_t accept_bucket = -1;
  int64_t accept_rows = 256;

  template <class IO> static void map(IO& io, AcceptanceKeys& c) {
    io.field("tau", c.tau,
             "accept a permutation iff (E_orig - E_perm) / E_orig > tau (0 = any decrease; methods.md suggests 0-0.05)",
             config::in_range(0, 1));
    io.field("accept_error", c.accept_error,
             "what E measures on the calibration rows: layer_output (||XW^T - Q(XP)Q(WP)^T||^2 over every consumer), "
             "weight (||WP - Q(WP)||^2) or activation (||XP - Q(XP)||^2)",
             config::one_of({"layer_output", "weight", "activation"}));
    io.field("accept_bucket", c.accept_bucket,
             "calibration timestep bucket whose reservoir rows E is measured on; -1 = the pooled reservoir",
             config::in_range(-1, 1e6));
    io.field("accept_rows", c.accept_rows,
             "calibration reservoir rows per site it asks for (the run keeps max(this, calibration.keep_rows))",
             config::in_range(1, 1e7));
  }
  /// The check that needs the formats too: an activation error needs an activation format.
  template <class IO> static void check(IO& io, const AcceptanceKeys& c, const QuantTargets& t) {
    io.check(!io.reading() || c.accept_error != "activation" || t.act_format.impl != nullptr, "accept_error",
             "accept_error 'activation' needs an act_format");
  }
  /// The rule in the targets' deployment formats.
  AcceptanceRule rule(const QuantTargets& t) const {
    AcceptanceRule r;
    r.tau = tau;
    r.error = accept_error == "weight"       ? AcceptError::weight
              : accept_error == "activation" ? AcceptError::activation
                                             : AcceptError::layer_output;
    r.weight_format = t.weight_format.impl;
    r.act_format = t.act_format.impl;
    r.bucket = accept_bucket;
    return r;
  }
};

}  // namespace pqlab::methods
