// joint_second_moment: PermuQuant's criterion (methods.md 1.1, 1.3): channel k's score
//   log v_k = alpha * log(E[x_k^2] + eps) + (1 - alpha) * log(mean_o W_ok^2 + eps)
// in log space (no under- or overflow for any alpha), then a stable sort within the site's
// segments. alpha = 1 sorts by activations alone, 0 by weights alone, 1/2 by the RMS size of the
// channel's contribution to the output. The weight moment pools every consumer that shares the
// permutation (fused q/k/v, both readers of a norm output).
// Tests: tests/methods/orderings/joint_second_moment_test.cpp
#include <ATen/ATen.h>

#include "framework/core/text.h"
#include "framework/registry/registries.h"
#include "methods/orderings/sorted_ordering.h"

namespace pqlab::methods {

struct JointSecondMomentConfig {
  double alpha = 0.5;
  double eps = 1e-12;
  SortDirection sort;
  template <class IO> static void map(IO& io, JointSecondMomentConfig& c) {
    io.field("alpha", c.alpha, "weight of the activation moment: v = E[x^2]^alpha * mean(W^2)^(1 - alpha)",
             config::in_range(0, 1));
    io.field("eps", c.eps, "added to both moments before the log (channels that are exactly zero)",
             config::in_range(0, 1));
    SortDirection::map(io, c.sort);
  }
};

class JointSecondMoment final : public ConfiguredPlugin<Ordering, JointSecondMomentConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override {
    return "joint_second_moment alpha=" + format_double(cfg_.alpha) + " " + cfg_.sort.direction;
  }
  at::Tensor permutation(const ChannelStats& s) const override {
    const at::Tensor a = require_stat(s.act_second_moment, s, "joint_second_moment", "the activation second moment E[x^2]");
    const at::Tensor w = require_stat(s.weight_second_moment, s, "joint_second_moment", "the weight second moment mean_o W^2");
    const at::Tensor log_v = at::log(a.to(at::kCPU, at::kDouble) + cfg_.eps) * cfg_.alpha +
                             at::log(w.to(at::kCPU, at::kDouble) + cfg_.eps) * (1.0 - cfg_.alpha);
    return sorted_permutation(log_v, s, cfg_.sort);
  }
};

}  // namespace pqlab::methods

PQLAB_PLUGIN(ordering, joint_second_moment, pqlab::methods::JointSecondMoment,
             "PermuQuant: sort channels by E[x^2]^alpha * mean(W^2)^(1-alpha) (calibration + weights)")
