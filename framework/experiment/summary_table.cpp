// The table `pqlab run` prints: one row per variant, and under a variant with a paired control
// its difference to the control with the bootstrap interval, so method, control and delta sit
// side by side; then the permutation decisions per site kind.
#include <ATen/ATen.h>

#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>

#include "framework/experiment/runner.h"

namespace pqlab {
namespace {

std::string num(double v, int precision = 4) {
  if (std::isnan(v)) return "-";
  std::ostringstream os;
  os << std::setprecision(precision) << v;
  return os.str();
}

std::string signed_num(double v) {
  if (std::isnan(v)) return "-";
  return (v > 0 ? "+" : "") + num(v, 3);
}

const PairedDifference* find_paired(const VariantSummary& v, const std::string& name) {
  for (const PairedDifference& d : v.paired)
    if (d.name == name) return &d;
  return nullptr;
}

// Fewest samples for which the table marks an interval that excludes 0: percentile bootstrap
// intervals undercover badly on a handful of samples (two values give [min, max] of their means).
constexpr int64_t kMinSamplesForMark = 10;

// A difference with its interval over n samples: Δ (with * when the interval excludes 0 and n is
// large enough to trust it) and "[lo, hi]" (n = 1: none).
std::pair<std::string, std::string> delta_cells(double mean, double lo, double hi, int64_t n) {
  std::string d = signed_num(mean);
  if (n >= kMinSamplesForMark && (lo > 0 || hi < 0)) d += "*";
  if (std::isnan(lo)) return {d, "n=" + std::to_string(n)};
  return {d, "[" + num(lo, 3) + ", " + num(hi, 3) + "]"};
}

std::string acceptance_line(const VariantSummary& v) {
  std::map<std::string, std::pair<int64_t, int64_t>> per_kind;  // kind -> accepted, considered
  std::vector<std::string> order;
  int64_t accepted = 0;
  for (const PermutationDecision& d : v.report.permutations) {
    if (!per_kind.count(d.kind)) order.push_back(d.kind);
    per_kind[d.kind].first += d.accepted;
    per_kind[d.kind].second += 1;
    accepted += d.accepted;
  }
  std::ostringstream os;
  os << "  " << v.label << ": " << accepted << "/" << v.report.permutations.size() << " (";
  for (size_t i = 0; i < order.size(); ++i)
    os << (i ? ", " : "") << order[i] << " " << per_kind[order[i]].first << "/" << per_kind[order[i]].second;
  os << ")\n";
  return os.str();
}

}  // namespace

std::string format_summary_table(const RunSummary& s) {
  std::vector<std::vector<std::string>> rows;
  // Teacher-forced: isolated / propagated layer error, velocity error (mean over steps, last
  // step); free-running: final latent error; then image and output metrics.
  std::vector<std::string> head = {"variant", "method",   "weights", "acts",   "layers",
                                   "iso",     "prop",     "velocity", "v_last", "latent"};
  const size_t fixed = head.size();
  const VariantSummary* first = !s.variants.empty() ? &s.variants[0] : nullptr;
  if (first) {
    for (const auto& [name, v] : first->image_metrics) head.push_back(name);
    for (const auto& [name, v] : first->output_metrics) head.push_back(name);
  }
  rows.push_back(head);
  auto add = [&](const VariantSummary& v, bool reference) {
    std::vector<std::string> r = {v.label, v.method, v.weight_format, v.act_format,
                                  reference ? "-" : std::to_string(v.quantized_layers)};
    for (double x : {v.isolated, v.propagated, v.velocity, v.velocity_last, v.final_latent})
      r.push_back(reference ? "-" : num(x));
    r.resize(fixed, "-");
    for (const auto& [name, val] : v.image_metrics) r.push_back(num(val));
    if (reference && first)
      r.resize(head.size(), "-");  // full precision has no error against itself
    else
      for (const auto& [name, val] : v.output_metrics) r.push_back(num(val));
    rows.push_back(r);
  };
  // Under a variant with a control: its difference (Δ) and the interval, column by column.
  auto add_delta = [&](const VariantSummary& v, const VariantSummary& c) {
    std::vector<std::string> d = {"  \u0394 vs control", "", "", "", ""};
    std::vector<std::string> ci = {"  " + num(100 * s.bootstrap_level, 3) + "% interval", "", "", "", ""};
    auto plain = [&](double a, double b) {
      d.push_back(signed_num(a - b));
      ci.push_back("");
    };
    auto paired = [&](const std::string& name, double a, double b) {
      if (const PairedDifference* p = find_paired(v, name)) {
        const auto cells = delta_cells(p->delta.mean, p->delta.lo, p->delta.hi, p->diffs.numel());
        d.push_back(cells.first);
        ci.push_back(cells.second);
      } else {
        plain(a, b);
      }
    };
    plain(v.isolated, c.isolated);
    plain(v.propagated, c.propagated);
    paired("velocity", v.velocity, c.velocity);
    const PairedDifference* vel = find_paired(v, "velocity");
    if (vel && vel->step_mean.defined() && vel->step_mean.numel() > 0) {
      const int64_t last = vel->step_mean.numel() - 1;
      const auto cells = delta_cells(vel->step_mean[last].item<double>(), vel->step_lo[last].item<double>(),
                                     vel->step_hi[last].item<double>(), vel->diffs.numel());
      d.push_back(cells.first);
      ci.push_back(cells.second);
    } else {
      plain(v.velocity_last, c.velocity_last);
    }
    paired("latent", v.final_latent, c.final_latent);
    for (size_t i = 0; i < v.image_metrics.size() && i < c.image_metrics.size(); ++i)
      paired(v.image_metrics[i].first, v.image_metrics[i].second, c.image_metrics[i].second);
    for (size_t i = 0; i < v.output_metrics.size() && i < c.output_metrics.size(); ++i)
      paired(v.output_metrics[i].first, v.output_metrics[i].second, c.output_metrics[i].second);
    d.resize(head.size(), "");
    ci.resize(head.size(), "");
    rows.push_back(d);
    rows.push_back(ci);
  };
  if (s.has_reference_row) add(s.reference, true);
  bool any_delta = false, any_permutations = false;
  int64_t n_tf = 0, n_all = 0;  // samples behind the teacher-forced and the free-running differences
  for (const auto& v : s.variants) {
    add(v, false);
    any_permutations = any_permutations || !v.report.permutations.empty();
    if (v.control.empty()) continue;
    for (const auto& c : s.variants)
      if (c.label == v.control) {
        add_delta(v, c);
        any_delta = true;
        if (const PairedDifference* p = find_paired(v, "velocity")) n_tf = p->diffs.numel();
        if (const PairedDifference* p = find_paired(v, "latent")) n_all = p->diffs.numel();
      }
  }
  std::vector<size_t> w(head.size(), 0);
  auto width = [](const std::string& t) {  // display columns: count UTF-8 lead bytes only
    size_t n = 0;
    for (unsigned char ch : t) n += (ch & 0xC0) != 0x80;
    return n;
  };
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], width(r[i]));
  std::ostringstream os;
  for (size_t k = 0; k < rows.size(); ++k) {
    std::string line;
    for (size_t i = 0; i < rows[k].size(); ++i)
      line += (i ? "  " : "") + rows[k][i] + std::string(w[i] - width(rows[k][i]), ' ');
    while (!line.empty() && line.back() == ' ') line.pop_back();
    os << line << '\n';
    if (k == 0) {
      size_t total = 0;
      for (size_t i = 0; i < w.size(); ++i) total += w[i] + (i ? 2 : 0);
      os << std::string(total, '-') << '\n';
    }
  }
  if (any_delta)
    os << "\u0394: the variant minus its control (<label>.control: the same method with the control ordering, same "
          "samples and seeds), mean over held-out samples; interval: paired percentile bootstrap over samples ("
       << s.bootstrap_resamples << " resamples) over " << n_tf << " teacher-forced (velocity, v_last) and " << n_all
       << " free-running samples (the rest); * = the interval excludes 0 (marked from " << kMinSamplesForMark
       << " samples on). iso, prop and set-level metrics (no per-sample values): difference only.\n";
  os << "wall seconds: calibration " << num(s.seconds_calibration, 3) << ", reference " << num(s.seconds_reference, 3);
  if (s.peak_bytes_calibration >= 0) os << " (calibration peak GPU memory " << num(s.peak_bytes_calibration / 1e9, 3) << " GB)";
  os << "\n";
  for (const auto& v : s.variants) {
    os << "  " << v.label << ":";
    for (const auto& [phase, sec] : v.seconds) {
      os << " " << phase << " " << num(sec, 3);
      // The method's own phases, inside apply.
      if (phase == "apply" && !v.report.seconds.empty()) {
        os << " (";
        for (size_t i = 0; i < v.report.seconds.size(); ++i)
          os << (i ? ", " : "") << v.report.seconds[i].first << " " << num(v.report.seconds[i].second, 3);
        os << ")";
      }
      os << (&phase == &v.seconds.back().first ? "" : ",");
    }
    if (v.peak_bytes_apply >= 0) os << "; apply peak GPU memory " << num(v.peak_bytes_apply / 1e9, 3) << " GB";
    os << "\n";
  }
  if (any_permutations) {
    os << "permutation sites accepted / considered (per site kind):\n";
    for (const auto& v : s.variants)
      if (!v.report.permutations.empty()) os << acceptance_line(v);
  }
  return os.str();
}

}  // namespace pqlab
