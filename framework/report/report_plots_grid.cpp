// The heatmap over the alpha and tau axes, and the acceptance bars (report_plots.h).
#include <algorithm>
#include <map>
#include <sstream>

#include "framework/core/spellcheck.h"
#include "framework/report/plot_kinds.h"
#include "framework/report/report_plots.h"
#include "framework/report/report_tables.h"

namespace pqlab::report::plots {
namespace {

std::string tics(const std::vector<std::string>& values) {
  std::string s = "(";
  for (size_t i = 0; i < values.size(); ++i) s += (i ? ", " : "") + gnuplot_quote(values[i]) + " " + std::to_string(i);
  return s + ")";
}

size_t position(const std::vector<std::string>& values, const std::string& v) {
  return static_cast<size_t>(std::find(values.begin(), values.end(), v) - values.begin());
}

}  // namespace

void heatmap_plots(const ReportData& d, const Column& metric, std::vector<Plot>& plots) {
  const std::vector<std::string> axes = varying_axes(d);
  const std::string ax = axis_ending(d, axes, {"alpha"}), ay = axis_ending(d, axes, {"tau"});
  if (ax.empty() || ay.empty() || ax == ay) return;
  std::vector<std::string> averaged;
  for (const std::string& a : axes)
    if (a != ax && a != ay) averaged.push_back(a);
  const std::vector<Row> rows = rows_of(d);
  std::vector<std::string> labels;  // one heatmap per variant label
  for (const Row& r : rows)
    if (std::find(labels.begin(), labels.end(), r.variant->label) == labels.end()) labels.push_back(r.variant->label);
  for (const std::string& label : labels) {
    std::vector<Row> mine;
    for (const Row& r : rows)
      if (r.variant->label == label) mine.push_back(r);
    bool numeric = false;
    const std::vector<std::string> xs = axis_values(mine, ax, numeric), ys = axis_values(mine, ay, numeric);
    std::map<std::pair<size_t, size_t>, std::pair<double, int>> cells;  // (x, y) -> sum, count
    for (const Row& r : mine) {
      double v = 0;
      if (!cell_number(r, metric, v)) continue;
      auto& c = cells[{position(xs, row_label(r, ax)), position(ys, row_label(r, ay))}];
      c.first += v;
      c.second += 1;
    }
    if (cells.empty()) continue;
    Plot p;
    p.name = metric.name + "_" + ax + "_x_" + ay + (labels.size() > 1 ? "_" + label : "");
    std::string title = metric.name + " by " + ax + " and " + ay;
    if (labels.size() > 1) title += ", " + label;
    if (!averaged.empty()) title += " (mean over " + join(averaged) + ")";
    p.what = title;
    std::ostringstream data, body;
    data << "# " << ax << " position, " << ay << " position, " << metric.name << ", its label, " << ax << ", " << ay << '\n';
    for (const auto& [xy, c] : cells) {
      const double mean = c.first / c.second;
      data << xy.first << ' ' << xy.second << ' ' << dat(mean) << " \"" << format_sig(mean, 3) << "\" \""
           << xs[xy.first] << "\" \"" << ys[xy.second] << "\"\n";
    }
    p.data = data.str();
    const std::string file = gnuplot_quote(p.name + ".dat");
    body << "set title " << gnuplot_quote(title) << "\nset xlabel " << gnuplot_quote(ax) << "\nset ylabel "
         << gnuplot_quote(ay) << "\nset cblabel " << gnuplot_quote(metric_label(metric)) << "\nset xtics " << tics(xs)
         << "\nset ytics " << tics(ys) << "\nset xrange [-0.5:" << xs.size() - 0.5 << "]\nset yrange [-0.5:"
         << ys.size() - 0.5 << "]\n"
         << "set palette defined (0 '#440154', 1 '#3b528b', 2 '#21918c', 3 '#5ec962', 4 '#fde725')\n"
         << "set style fill solid 1.0 noborder\nset style textbox opaque fillcolor 'white' noborder\n"
         << "plot " << file << " using 1:2:(0.5):(0.5):3 with boxxyerror lc palette notitle, \\\n"
         << "     " << file << " using 1:2:4 with labels boxed notitle\n";
    p.script = gnuplot_script(p.name, {"pqlab report: " + title}, body.str());
    plots.push_back(p);
  }
}

void acceptance_plot(const ReportData& d, std::vector<Plot>& plots, std::vector<std::string>& notes) {
  std::vector<Row> series;
  for (const Row& r : rows_of(d))
    if (!r.variant->sites.empty()) series.push_back(r);
  if (series.empty()) return;
  if (series.size() > kMaxAcceptanceSeries) {
    notes.push_back("acceptance plot: the first " + std::to_string(kMaxAcceptanceSeries) + " of " +
                    std::to_string(series.size()) + " variants with permutation sites");
    series.resize(kMaxAcceptanceSeries);
  }
  std::vector<std::string> kinds;
  for (const Row& r : series)
    for (const SiteCount& s : r.variant->sites)
      if (std::find(kinds.begin(), kinds.end(), s.kind) == kinds.end()) kinds.push_back(s.kind);
  const std::vector<std::string> keys = default_row_keys(d);
  Plot p;
  p.name = "acceptance";
  p.what = "accepted fraction of permutation sites per site kind, one bar per variant";
  std::ostringstream data, body;
  data << "# site kind, then per variant the accepted fraction (NaN: no such site); counts in the comments\n";
  for (size_t i = 0; i < series.size(); ++i) data << "# column " << i + 2 << ": " << row_name(d, series[i], keys) << '\n';
  for (const std::string& k : kinds) {
    std::string counts;
    data << '"' << k << '"';
    for (const Row& r : series) {
      const auto it = std::find_if(r.variant->sites.begin(), r.variant->sites.end(), [&](const SiteCount& s) { return s.kind == k; });
      const bool has = it != r.variant->sites.end() && it->considered > 0;
      data << ' ' << (has ? dat(static_cast<double>(it->accepted) / static_cast<double>(it->considered)) : "NaN");
      counts += " " + (has ? std::to_string(it->accepted) + "/" + std::to_string(it->considered) : "-");
    }
    data << "  #" << counts << '\n';
  }
  p.data = data.str();
  body << "set title 'accepted permutation sites per site kind'\nset ylabel 'accepted fraction'\nset yrange [0:1.05]\n"
       << "set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.85 border -1\n"
       << "set key below\n";
  for (size_t i = 0; i < series.size(); ++i)
    body << (i ? ", \\\n     " : "plot ") << gnuplot_quote(p.name + ".dat") << " using " << i + 2 << (i ? "" : ":xtic(1)")
         << " title " << gnuplot_quote(row_name(d, series[i], keys));
  body << '\n';
  p.script = gnuplot_script(p.name, {"pqlab report: " + p.what}, body.str());
  plots.push_back(p);
}

}  // namespace pqlab::report::plots
