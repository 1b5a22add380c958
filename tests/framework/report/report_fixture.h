// Hand-built report data for the report tests: a group-size sweep of one PermuQuant-like variant
// with its control, numbers picked so that best and second best are known.
#pragma once
#include <cmath>
#include <string>

#include "framework/report/report_data.h"

namespace pqlab::test {

inline report::VariantRecord variant(const std::string& label, const std::string& control, double velocity,
                                     double final_latent, double isolated, double sqnr) {
  report::VariantRecord v;
  v.label = label;
  v.method = "permuquant";
  v.weight_format = "int4_g32";
  v.act_format = "int4_g32";
  v.control = control;
  v.values = {{"velocity", velocity}, {"final_latent", final_latent}, {"isolated", isolated}, {"sqnr", sqnr}};
  return v;
}

inline report::VariantRecord control_of(const report::VariantRecord& v, double velocity) {
  report::VariantRecord c = variant(v.label + ".control", "", velocity, 2 * v.values.at("final_latent"),
                                    2 * v.values.at("isolated"), v.values.at("sqnr") - 1);
  c.control_of = v.label;
  c.method = "permuquant[control]";
  return c;
}

/// Three tasks, group_size 16, 32, 64: velocity 0.5, 0.25, 0.125 (best 64, second 32), final
/// latent 1e-5, 2e-5, 3e-5 (best 16, second 32), isolated 0.1, 0.1, 0.2 (two best, no second),
/// sqnr 10, 20, 30 (higher is better), velocity deltas -0.01 [-0.03, 0.01], -0.02 [-0.05, 0.01],
/// +0.005 without interval; permutation sites only at task 0.
inline report::ReportData sweep_fixture() {
  report::ReportData d;
  d.axes = {{"variants.0.method.weight_format.group_size", "group_size"}};
  const double vel[] = {0.5, 0.25, 0.125}, lat[] = {1e-5, 2e-5, 3e-5}, iso[] = {0.1, 0.1, 0.2}, sqnr[] = {10, 20, 30};
  const report::Interval deltas[] = {{-0.01, -0.03, 0.01}, {-0.02, -0.05, 0.01}, {0.005, std::nan(""), std::nan("")}};
  const char* groups[] = {"16", "32", "64"};
  for (int i = 0; i < 3; ++i) {
    report::ResultRecord r;
    r.path = std::to_string(i) + "-abc/gs.h5";
    r.experiment = "gs";
    r.index = i;
    r.axis_values["group_size"] = groups[i];
    report::VariantRecord v = variant("pq", "pq.control", vel[i], lat[i], iso[i], sqnr[i]);
    v.deltas["velocity"] = deltas[i];
    v.level = 0.95;
    v.velocity_steps = {vel[i] / 2, vel[i] * 1.5};
    v.step_mean = {-0.01, -0.02};
    v.step_lo = {-0.02, -0.04};
    v.step_hi = {0.0, 0.01};
    if (i == 0) v.sites = {{"norm_out", 3, 4}, {"v_out", 1, 2}};
    r.variants.push_back(v);
    report::VariantRecord c = control_of(v, vel[i] + 0.01);
    c.velocity_steps = {vel[i] / 2 + 0.01, vel[i] * 1.5 + 0.02};
    r.variants.push_back(c);
    d.results.push_back(r);
  }
  return d;
}

}  // namespace pqlab::test
