#include "framework/experiment/step_evaluation.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "framework/experiment/trajectory.h"
#include "framework/interfaces/model_adapter.h"
#include "framework/quant/input_transform.h"
#include "framework/quant/output_map.h"
#include "framework/stats/sq_error.h"

namespace pqlab {
namespace {

// Same weight, formats, transform and branch (by handle): the site computes the same thing in
// both states, so its isolated error is exactly zero and need not be computed.
bool same_state(const SiteState& a, const SiteState& b) {
  return a.weight.is_same(b.weight) && a.packed_weight == b.packed_weight && a.bias.is_same(b.bias) && a.act_format == b.act_format && a.input_transform == b.input_transform &&
         a.low_rank_a.is_same(b.low_rank_a) && a.low_rank_b.is_same(b.low_rank_b) && a.input_order.is_same(b.input_order) &&
         a.output_order.is_same(b.output_order) && a.input_map == b.input_map && a.output_map == b.output_map;
}

}  // namespace

at::Tensor per_sample_rel_mse(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor ad = a.detach().to(at::kDouble).reshape({a.size(0), -1});
  const at::Tensor bd = b.detach().to(at::kDouble).reshape({b.size(0), -1});
  return (ad - bd).pow(2).sum(1) / bd.pow(2).sum(1);
}

at::Tensor per_sample_cosine(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor ad = a.detach().to(at::kDouble).reshape({a.size(0), -1});
  const at::Tensor bd = b.detach().to(at::kDouble).reshape({b.size(0), -1});
  return (ad * bd).sum(1) / (ad.norm(2, 1) * bd.norm(2, 1));
}

std::vector<at::Tensor> reference_trajectory(ModelAdapter& model, const at::Tensor& x0, int64_t batch,
                                            const StepCallback& on_call) {
  const int64_t steps = static_cast<int64_t>(model.schedule().size()) - 1, n = x0.size(0);
  std::vector<std::vector<at::Tensor>> per_step(static_cast<size_t>(steps) + 1);
  for (int64_t i = 0; i < n; i += batch) {
    TrajectoryHooks hooks;
    hooks.after_call = [&](const StepContext& c, const at::Tensor& x, const at::Tensor&) {
      per_step[static_cast<size_t>(c.step)].push_back(x.detach());
      if (on_call) on_call(c);
    };
    per_step.back().push_back(run_trajectory(model, x0.narrow(0, i, std::min(batch, n - i)), i, hooks).detach());
  }
  std::vector<at::Tensor> ref;
  for (auto& v : per_step) ref.push_back(at::cat(v, 0));
  return ref;
}

TeacherForcedErrors evaluate_teacher_forced(ModelAdapter& model, const std::vector<LinearSite*>& sites,
                                            const std::vector<SiteState>& fp, const std::vector<SiteState>& quant,
                                            const std::vector<at::Tensor>& ref, int64_t n, int64_t batch,
                                            bool propagated, const StepCallback& on_call) {
  const std::vector<double> ts = model.schedule();
  const int64_t S = static_cast<int64_t>(ts.size()) - 1, L = static_cast<int64_t>(sites.size());
  const at::TensorOptions dopt = at::TensorOptions().dtype(at::kDouble).device(ref.at(0).device());
  TeacherForcedErrors e;
  e.isolated_err = at::zeros({L, S}, dopt);
  e.propagated_err = at::zeros({L, S}, dopt);
  e.site_ref = at::zeros({L, S}, dopt);
  e.velocity_rel_mse = at::zeros({n, S}, dopt);
  e.velocity_cosine = at::zeros({n, S}, dopt);
  std::vector<bool> same(static_cast<size_t>(L));
  for (int64_t k = 0; k < L; ++k) same[static_cast<size_t>(k)] = same_state(fp[static_cast<size_t>(k)], quant[static_cast<size_t>(k)]);

  StepContext ctx;
  ctx.num_steps = S;
  std::vector<std::vector<at::Tensor>> records(static_cast<size_t>(L));  // one call of one step of one batch
  std::vector<size_t> calls(static_cast<size_t>(L));
  for (int64_t i = 0; i < n; i += batch) {
    const int64_t b = std::min(batch, n - i);
    ctx.first_sample = i;
    ctx.count = b;
    for (int64_t s = 0; s < S; ++s) {
      ctx.step = s;
      ctx.t = ts[static_cast<size_t>(s)];
      ctx.t_next = ts[static_cast<size_t>(s) + 1];
      const at::Tensor x = ref[static_cast<size_t>(s)].narrow(0, i, b);
      for (auto& r : records) r.clear();
      // Full-precision pass: reference outputs, and each site's isolated error on its own input.
      for (int64_t k = 0; k < L; ++k) {
        LinearSite* site = sites[static_cast<size_t>(k)];
        site->set_state(fp[static_cast<size_t>(k)]);
        site->set_tap([&, k, s](const LinearSite& st, const at::Tensor& in, const at::Tensor& out) {
          // In the variant's channel order (absorbed permutations): its input as the variant's
          // producers write it, and the reference outputs in the order the variant emits them.
          const SiteState& qs = quant[static_cast<size_t>(k)];
          // Folded transforms: the variant's input and output as maps of the full-precision ones.
          at::Tensor ref_out = qs.output_order.defined() ? out.index_select(-1, qs.output_order) : out;
          if (qs.output_map) ref_out = qs.output_map->apply(ref_out);
          at::Tensor q;
          if (!same[static_cast<size_t>(k)]) {
            at::Tensor qin = qs.input_order.defined() ? in.index_select(-1, qs.input_order) : in;
            if (qs.input_map) qin = qs.input_map->apply(qin);
            q = st.compute(qin, qs);
          }
          accumulate_sq_error(q, ref_out, e.isolated_err[k][s], e.site_ref[k][s]);
          if (propagated) records[static_cast<size_t>(k)].push_back(ref_out.detach());
        });
      }
      const at::Tensor v_fp = model.velocity(x, ctx);
      // Quantized pass on the same input: each site's output against the full-precision one.
      for (int64_t k = 0; k < L; ++k) {
        LinearSite* site = sites[static_cast<size_t>(k)];
        site->set_state(quant[static_cast<size_t>(k)]);
        calls[static_cast<size_t>(k)] = 0;
        if (!propagated) {
          site->set_tap(nullptr);
          continue;
        }
        site->set_tap([&, k, s](const LinearSite&, const at::Tensor&, const at::Tensor& out) {
          auto& rec = records[static_cast<size_t>(k)];
          size_t& c = calls[static_cast<size_t>(k)];
          if (c < rec.size()) accumulate_sq_error(out, rec[c], e.propagated_err[k][s], at::Tensor());
          ++c;
        });
      }
      const at::Tensor v_q = model.velocity(x, ctx);
      e.velocity_rel_mse.narrow(0, i, b).select(1, s).copy_(per_sample_rel_mse(v_q, v_fp));
      e.velocity_cosine.narrow(0, i, b).select(1, s).copy_(per_sample_cosine(v_q, v_fp));
      if (on_call) on_call(ctx);
    }
  }
  for (LinearSite* site : sites) site->set_tap(nullptr);
  if (!propagated) e.propagated_err.fill_(std::nan(""));
  return e;
}

FreeRunning evaluate_free_running(ModelAdapter& model, const std::vector<at::Tensor>& ref, int64_t batch,
                                  const StepCallback& on_call) {
  const int64_t S = static_cast<int64_t>(ref.size()) - 1, n = ref.at(0).size(0);
  FreeRunning f;
  f.latent_rel_mse = at::zeros({n, S}, at::TensorOptions().dtype(at::kDouble).device(ref[0].device()));
  std::vector<at::Tensor> results;
  for (int64_t i = 0; i < n; i += batch) {
    const int64_t b = std::min(batch, n - i);
    TrajectoryHooks hooks;
    hooks.after_call = [&](const StepContext& c, const at::Tensor& x, const at::Tensor&) {
      if (c.step > 0)
        f.latent_rel_mse.narrow(0, i, b).select(1, c.step - 1).copy_(
            per_sample_rel_mse(x, ref[static_cast<size_t>(c.step)].narrow(0, i, b)));
      if (on_call) on_call(c);
    };
    const at::Tensor out = run_trajectory(model, ref[0].narrow(0, i, b), i, hooks).detach();
    f.latent_rel_mse.narrow(0, i, b).select(1, S - 1).copy_(per_sample_rel_mse(out, ref[static_cast<size_t>(S)].narrow(0, i, b)));
    results.push_back(out);
  }
  f.result = at::cat(results, 0);
  return f;
}

}  // namespace pqlab
