#include "framework/report/report_plots.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "framework/core/spellcheck.h"
#include "framework/report/plot_kinds.h"
#include "framework/report/report_tables.h"

namespace pqlab::report {
namespace plots {
namespace {

const char* const kBlue = "'#1f77b4'";
const char* const kGrey = "'#555555'";


// Whether axis `a` takes one value per value of axis `by` over the rows (zipped axes, such as
// weight and activation group sizes swept together): a line per value of `a` would split the
// curve into single points.
bool determined_by(const std::vector<Row>& rows, const std::string& a, const std::string& by) {
  std::map<std::string, std::string> seen;
  for (const Row& r : rows) {
    const auto [it, fresh] = seen.emplace(row_label(r, by), row_label(r, a));
    if (!fresh && it->second != row_label(r, a)) return false;
  }
  return true;
}

}  // namespace

std::string dat(double v) { return std::isfinite(v) ? format_sig(v, 17) : "NaN"; }

std::string metric_label(const Column& c) {
  return c.kind == ColumnKind::delta ? describe_metric(c.source) + ", variant - control" : describe_metric(c.name);
}

std::string describe_metric(const std::string& name) {
  static const std::map<std::string, std::string> known = {
      {"velocity", "velocity relative MSE (teacher-forced)"},
      {"velocity_last", "last-step velocity relative MSE (teacher-forced)"},
      {"final_latent", "final latent relative MSE (free-running)"},
      {"latent", "final latent relative MSE (free-running)"},
      {"isolated", "isolated layer relative MSE"},
      {"propagated", "propagated layer relative MSE"},
      {"weight", "weight relative MSE"}};
  const auto it = known.find(name);
  return it == known.end() ? name : it->second;
}

std::vector<Row> rows_of(const ReportData& d) {
  std::vector<Row> rows;
  for (const ResultRecord& r : d.results)
    for (const VariantRecord& v : r.variants)
      if (!v.is_control()) rows.push_back({&r, &v});
  return rows;
}

std::string row_name(const ReportData& d, const Row& row, const std::vector<std::string>& keys) {
  std::vector<std::string> parts;
  for (const std::string& k : keys) {
    const bool axis = std::any_of(d.axes.begin(), d.axes.end(), [&](const Axis& a) { return a.name == k; });
    parts.push_back(axis ? k + "=" + row_label(row, k) : row_label(row, k));
  }
  return join(parts);
}

std::vector<std::string> varying_axes(const ReportData& d) {
  std::vector<std::string> v;
  for (const std::string& k : default_row_keys(d))
    if (std::any_of(d.axes.begin(), d.axes.end(), [&](const Axis& a) { return a.name == k; })) v.push_back(k);
  return v;
}

bool several_labels(const std::vector<Row>& rows) {
  std::set<std::string> labels;
  for (const Row& r : rows) labels.insert(r.variant->label);
  return labels.size() > 1;
}

std::string axis_ending(const ReportData& d, const std::vector<std::string>& varying, const std::vector<std::string>& ends) {
  for (const Axis& a : d.axes)
    if (std::find(varying.begin(), varying.end(), a.name) != varying.end())
      for (const std::string& e : ends)
        if (ends_with(a.key, e) || ends_with(a.name, e)) return a.name;
  return "";
}

std::vector<std::string> axis_values(const std::vector<Row>& rows, const std::string& axis, bool& numeric) {
  std::vector<std::string> v;
  for (const Row& r : rows) {
    const std::string x = row_label(r, axis);
    if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
  }
  double tmp = 0;
  numeric = std::all_of(v.begin(), v.end(), [&](const std::string& x) { return parse_number(x, tmp); });
  if (numeric)
    std::sort(v.begin(), v.end(), [](const std::string& a, const std::string& b) {
      double x = 0, y = 0;
      parse_number(a, x);
      parse_number(b, y);
      return x < y;
    });
  return v;
}

void step_plots(const ReportData& d, std::vector<Plot>& plots, std::vector<std::string>& notes) {
  const std::vector<std::string> axes = varying_axes(d);
  size_t eligible = 0;
  for (const Row& row : rows_of(d)) {
    const VariantRecord& v = *row.variant;
    const VariantRecord* c = v.control.empty() ? nullptr : row.result->find(v.control);
    const size_t S = v.step_mean.size();
    if (!c || S < 2 || c->velocity_steps.size() != S || v.velocity_steps.size() != S) continue;
    if (++eligible > kMaxStepPlots) continue;
    Plot p;
    p.name = "steps_" + std::to_string(row.result->index) + "_" + v.label;
    const std::string where = axes.empty() ? row.result->path : row_name(d, row, axes);
    p.what = "velocity error per step, " + v.label + " and its control (" + where + ")";
    std::ostringstream data;
    data << "# step, control, variant, control + interval lo, control + interval hi (teacher-forced velocity relative MSE)\n";
    bool positive = true;
    for (size_t s = 0; s < S; ++s) {
      const double base = c->velocity_steps[s];
      const double row_v[] = {base, v.velocity_steps[s], base + v.step_lo[s], base + v.step_hi[s]};
      data << s;
      for (double x : row_v) {
        data << ' ' << dat(x);
        positive = positive && x > 0;
      }
      data << '\n';
    }
    p.data = data.str();
    const std::string file = gnuplot_quote(p.name + ".dat");
    const std::string level = v.level > 0 ? format_sig(100 * v.level, 3) + "% " : "";
    std::ostringstream body;
    body << "set title " << gnuplot_quote(v.label + " and its control " + c->label + " (" + where + ")") << '\n'
         << "set xlabel 'step'\nset xtics 1\nset ylabel 'velocity relative MSE (teacher-forced)'\nset key below\n"
         << "set style fill transparent solid 0.25 noborder\n" << (positive ? "set logscale y\n" : "")
         << "plot " << file << " using 1:4:5 with filledcurves lc rgb " << kBlue << " title "
         << gnuplot_quote("control + " + level + "interval of the difference") << ", \\\n"
         << "     " << file << " using 1:2 with linespoints lc rgb " << kGrey << " dt 2 pt 6 title " << gnuplot_quote(c->label) << ", \\\n"
         << "     " << file << " using 1:3 with linespoints lc rgb " << kBlue << " pt 7 title " << gnuplot_quote(v.label) << '\n';
    p.script = gnuplot_script(p.name, {"pqlab report: " + p.what}, body.str());
    plots.push_back(p);
  }
  if (eligible > kMaxStepPlots)
    notes.push_back("per-step plots drawn for the first " + std::to_string(kMaxStepPlots) + " of " + std::to_string(eligible) +
                    " variants with a control");
}

void group_plot(const ReportData& d, const Column& metric, std::vector<Plot>& plots) {
  const std::vector<std::string> axes = varying_axes(d);
  const std::string axis = axis_ending(d, axes, {"group_size", "group"});
  if (axis.empty()) return;
  const std::vector<Row> rows = rows_of(d);
  std::vector<std::string> others;
  for (const std::string& a : axes)
    if (a != axis && !determined_by(rows, a, axis)) others.push_back(a);
  if (several_labels(rows)) others.push_back("variant");
  bool numeric = false;
  const std::vector<std::string> xs = axis_values(rows, axis, numeric);
  // line -> x index -> (sum of mean, lo, hi; count)
  std::vector<std::string> lines;
  std::map<std::string, std::map<size_t, std::pair<std::vector<double>, int>>> points;
  for (const Row& r : rows) {
    double y = 0;
    if (!cell_number(r, metric, y)) continue;
    std::vector<double> vals = {y, y, y};
    if (metric.kind == ColumnKind::delta) {
      const Interval& i = r.variant->deltas.at(metric.source);
      vals = {i.mean, i.lo, i.hi};
    }
    const std::string line = others.empty() ? r.variant->label : row_name(d, r, others);
    if (!points.count(line)) lines.push_back(line);
    const size_t xi = static_cast<size_t>(std::find(xs.begin(), xs.end(), row_label(r, axis)) - xs.begin());
    auto& acc = points[line][xi];
    acc.first.resize(3, 0.0);
    for (int k = 0; k < 3; ++k) acc.first[k] += vals[k];
    acc.second += 1;
  }
  if (lines.empty()) return;
  Plot p;
  p.name = metric.name + "_vs_" + axis;
  p.what = metric.name + " against " + axis + ", one line per " + (others.empty() ? "variant" : join(others));
  std::ostringstream data, body, plot;
  data << "# " << axis << " (or its position), " << metric.name << " mean, lo, hi, " << axis << "; one block per line\n";
  bool positive = metric.kind == ColumnKind::value && metric.better != Better::none;
  for (size_t l = 0; l < lines.size(); ++l) {
    data << (l ? "\n\n" : "") << "# " << lines[l] << '\n';
    for (const auto& [xi, acc] : points[lines[l]]) {
      double x = static_cast<double>(xi);
      if (numeric) parse_number(xs[xi], x);
      data << dat(x);
      for (int k = 0; k < 3; ++k) {
        data << ' ' << dat(acc.first[k] / acc.second);
        positive = positive && acc.first[k] > 0;
      }
      data << " \"" << xs[xi] << "\"\n";
    }
    const std::string use = metric.kind == ColumnKind::delta ? "1:2:3:4" : "1:2";
    plot << (l ? ", \\\n     " : "plot ") << gnuplot_quote(p.name + ".dat") << " index " << l << " using " << use
         << (numeric ? "" : ":xtic(5)") << (metric.kind == ColumnKind::delta ? " with yerrorlines" : " with linespoints")
         << " pt 7 title " << gnuplot_quote(lines[l]);
  }
  p.data = data.str();
  double lo = 0, hi = 0;
  if (numeric) {
    if (parse_number(xs.front(), lo) && parse_number(xs.back(), hi) && lo > 0 && hi / lo >= 4) body << "set logscale x 2\n";
    body << "set xtics (";
    for (size_t i = 0; i < xs.size(); ++i) body << (i ? ", " : "") << xs[i];
    body << ")\nset offsets graph 0.05, graph 0.05, 0, 0\n";
  } else {
    body << "set xrange [-0.5:" << xs.size() - 0.5 << "]\n";
  }
  body << "set title " << gnuplot_quote(metric.name + " against " + axis) << "\nset xlabel " << gnuplot_quote(axis)
       << "\nset ylabel " << gnuplot_quote(metric_label(metric)) << "\nset key below\n" << (positive ? "set logscale y\n" : "")
       << (metric.kind == ColumnKind::delta ? "set xzeroaxis dt 2 lc rgb '#888888'\n" : "")
       << plot.str() << '\n';
  p.script = gnuplot_script(p.name, {"pqlab report: " + p.what}, body.str());
  plots.push_back(p);
}

}  // namespace plots

std::vector<Plot> make_plots(const ReportData& d, const std::string& metric, std::vector<std::string>& notes) {
  std::vector<Plot> figures;
  const Column m = column_named(metric);
  plots::step_plots(d, figures, notes);
  plots::group_plot(d, m, figures);
  plots::heatmap_plots(d, m, figures, notes);
  plots::acceptance_plot(d, figures, notes);
  return figures;
}

}  // namespace pqlab::report
