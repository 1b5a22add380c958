#include "framework/experiment/paired.h"

#include <ATen/ATen.h>

#include "framework/core/error.h"

namespace pqlab {
namespace {

BootstrapInterval interval(const at::Tensor& diffs, int64_t resamples, double level, uint64_t seed) {
  if (diffs.numel() >= 2) return paired_bootstrap(diffs, resamples, level, seed);
  BootstrapInterval b;
  b.mean = diffs.mean().item<double>();
  b.lo = b.hi = std::nan("");
  b.level = level;
  b.resamples = 0;
  return b;
}

}  // namespace

std::vector<PairedDifference> paired_differences(const std::vector<SampleValues>& variant,
                                                 const std::vector<SampleValues>& control, int64_t resamples,
                                                 double level, uint64_t seed) {
  std::vector<PairedDifference> out;
  for (const SampleValues& v : variant) {
    const SampleValues* c = nullptr;
    for (const SampleValues& x : control)
      if (x.name == v.name) c = &x;
    if (!c) continue;
    if (!v.values.sizes().equals(c->values.sizes()))
      throw RuntimeError("paired difference '" + v.name + "': " + std::to_string(v.values.numel()) + " samples against " +
                         std::to_string(c->values.numel()) + " for the control");
    PairedDifference d;
    d.name = v.name;
    d.variant = v.values.to(at::kDouble).mean().item<double>();
    d.control = c->values.to(at::kDouble).mean().item<double>();
    d.diffs = v.values.to(at::kDouble) - c->values.to(at::kDouble);
    d.delta = interval(d.diffs, resamples, level, seed);
    if (v.per_step.defined() && c->per_step.defined()) {
      const at::Tensor diff = v.per_step.to(at::kDouble) - c->per_step.to(at::kDouble);
      const int64_t steps = diff.size(1);
      d.step_mean = at::empty({steps}, at::kDouble);
      d.step_lo = at::empty({steps}, at::kDouble);
      d.step_hi = at::empty({steps}, at::kDouble);
      for (int64_t s = 0; s < steps; ++s) {
        const BootstrapInterval b = interval(diff.select(1, s).contiguous(), resamples, level, seed);
        d.step_mean[s] = b.mean;
        d.step_lo[s] = b.lo;
        d.step_hi[s] = b.hi;
      }
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace pqlab
