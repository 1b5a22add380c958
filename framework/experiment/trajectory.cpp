#include "framework/experiment/trajectory.h"

#include <ATen/ATen.h>

#include "framework/core/error.h"
#include "framework/interfaces/model_adapter.h"

namespace pqlab {

at::Tensor EulerUpdate::update(const at::Tensor& x, const at::Tensor& v, const StepContext& ctx) const {
  return x + v * (ctx.t_next - ctx.t);
}

at::Tensor run_trajectory(ModelAdapter& model, const at::Tensor& x0, int64_t first_sample,
                          const TrajectoryHooks& hooks) {
  const std::vector<double> ts = model.schedule();
  if (ts.size() < 2)
    throw RuntimeError("model '" + model.describe() + "': a schedule needs at least 2 time values, got " +
                       std::to_string(ts.size()));
  const UpdateRule& rule = model.update_rule();
  at::Tensor x = x0;
  StepContext ctx;
  ctx.num_steps = static_cast<int64_t>(ts.size()) - 1;
  ctx.first_sample = first_sample;
  ctx.count = x0.size(0);
  for (int64_t s = 0; s < ctx.num_steps; ++s) {
    ctx.step = s;
    ctx.t = ts[static_cast<size_t>(s)];
    ctx.t_next = ts[static_cast<size_t>(s) + 1];
    if (hooks.input_at) {
      at::Tensor forced = hooks.input_at(ctx);
      if (forced.defined()) x = forced;
    }
    if (hooks.before_call) hooks.before_call(ctx);
    const at::Tensor v = model.velocity(x, ctx);
    if (hooks.after_call) hooks.after_call(ctx, x, v);
    x = rule.update(x, v, ctx);
  }
  return x;
}

}  // namespace pqlab
