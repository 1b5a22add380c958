// The heatmap over the alpha and tau axes, and the acceptance bars (report_plots.h).
#include <algorithm>
#include <array>
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

// gnuplot's default cycle has 8 colours; up to kMaxAcceptanceSeries bars need distinct ones.
// ColorBrewer "Paired" (12): light/dark pairs, which suit the neighbouring rows of a sweep that
// differ in its last axis.
const std::array<const char*, 12> kPaired = {"#a6cee3", "#1f78b4", "#b2df8a", "#33a02c", "#fb9a99", "#e31a1c",
                                             "#fdbf6f", "#ff7f00", "#cab2d6", "#6a3d9a", "#ffff99", "#b15928"};
static_assert(kMaxAcceptanceSeries <= 12, "one Paired colour per acceptance series");

size_t position(const std::vector<std::string>& values, const std::string& v) {
  return static_cast<size_t>(std::find(values.begin(), values.end(), v) - values.begin());
}

}  // namespace

void heatmap_plots(const ReportData& d, const Column& metric, std::vector<Plot>& plots, std::vector<std::string>& notes) {
  const std::vector<std::string> axes = varying_axes(d);
  const std::string ax = axis_ending(d, axes, {"alpha"}), ay = axis_ending(d, axes, {"tau"});
  if (ax.empty() || ay.empty() || ax == ay) return;
  // A mean over group sizes or formats would mix errors of different scales into one cell, so
  // every other axis gets a heatmap per value; only seeds, which repeat one setting, are averaged.
  std::vector<std::string> averaged, sliced;
  for (const std::string& a : axes)
    if (a != ax && a != ay) (ends_with(a, "seed") ? averaged : sliced).push_back(a);
  const std::vector<Row> rows = rows_of(d);
  // One heatmap per (variant label, values of the sliced axes), in the order rows first show them.
  std::vector<std::pair<std::string, std::string>> slices;
  std::map<std::pair<std::string, std::string>, std::vector<Row>> members;
  for (const Row& r : rows) {
    std::string values;
    for (const std::string& a : sliced) values += (values.empty() ? "" : ", ") + a + "=" + row_label(r, a);
    const std::pair<std::string, std::string> key{r.variant->label, values};
    if (!members.count(key)) slices.push_back(key);
    members[key].push_back(r);
  }
  const bool many_labels = several_labels(rows);
  size_t drawn = 0, eligible = 0;
  for (size_t si = 0; si < slices.size(); ++si) {
    const std::string& label = slices[si].first;
    const std::string& values = slices[si].second;
    const std::vector<Row>& mine = members[slices[si]];
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
    if (++eligible > kMaxHeatmaps) continue;
    ++drawn;
    Plot p;
    // Slices are numbered per label, in the order the table lists them; the title says which.
    const auto nth = std::count_if(slices.begin(), slices.begin() + static_cast<std::ptrdiff_t>(si),
                                   [&](const auto& other) { return other.first == label; });
    p.name = metric.name + "_" + ax + "_x_" + ay + (many_labels ? "_" + label : "") +
             (sliced.empty() ? "" : "_" + std::to_string(nth));
    std::string title = metric.name + " by " + ax + " and " + ay;
    if (many_labels) title += ", " + label;
    if (!values.empty()) title += ", " + values;
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
  if (eligible > drawn)
    notes.push_back("heatmaps drawn for the first " + std::to_string(drawn) + " of " + std::to_string(eligible) +
                    " slices (" + join(sliced) + "); --rows/--metric do not change this, a report over fewer results does");
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
         << " lc rgb '" << kPaired[i % kPaired.size()] << "' title " << gnuplot_quote(row_name(d, series[i], keys));
  body << '\n';
  p.script = gnuplot_script(p.name, {"pqlab report: " + p.what}, body.str());
  plots.push_back(p);
}

}  // namespace pqlab::report::plots
