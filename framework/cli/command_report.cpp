// `pqlab report <sweep dir | result.h5 ...>`: the Markdown table on stdout; report.tex,
// report.csv and the plots (gnuplot scripts, data, PDF and PNG) under --out; what was written,
// notes and warnings on stderr, so stdout stays pure Markdown.
#include <algorithm>
#include <fstream>
#include <ostream>
#include <sstream>

#include "framework/cli/cli.h"
#include "framework/cli/options.h"
#include "framework/core/error.h"
#include "framework/core/paths.h"
#include "framework/report/gnuplot.h"
#include "framework/report/report_plots.h"
#include "framework/report/report_tables.h"

namespace pqlab::cli {
namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream is(s);
  std::string item;
  while (std::getline(is, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) v.push_back(item);
  }
  return v;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out.flush()) throw RuntimeError(path + ": cannot write");
}

// The plotted metric: --metric when given (checked), else velocity, else the first number the
// table shows; "" when the results have no number at all.
std::string plot_metric(const report::ReportData& d, const report::Table& t, const std::string& asked) {
  std::vector<std::string> names = report::available_columns(d);
  names.erase(std::remove(names.begin(), names.end(), "accepted"), names.end());
  if (!asked.empty()) {
    report::check_name(asked, names, "metric");
    return asked;
  }
  if (std::find(names.begin(), names.end(), "velocity") != names.end()) return "velocity";
  for (const report::Column& c : t.columns)
    if (c.kind != report::ColumnKind::accepted) return c.name;
  return names.empty() ? "" : names.front();
}

}  // namespace

int command_report(CommandContext& c) {
  po::options_description desc("options");
  std::vector<std::string> inputs;
  std::string rows, cols, metric, out;
  desc.add_options()("help,h", "this text")("input", po::value(&inputs)->required(), "sweep folders or result files")(
      "rows", po::value(&rows), "row keys, comma-separated: axis names, variant, experiment, file, method, weight_format, "
                                "act_format (default: the axes that vary, and variant when a result has several)")(
      "cols", po::value(&cols), "columns, comma-separated (default: velocity, final_latent, isolated, delta_velocity, "
                                "accepted, where the results have them)")(
      "metric", po::value(&metric), "the metric plotted against group size and in heatmaps (default: velocity)")(
      "out", po::value(&out), "output folder (default: <sweep>/report for a sweep, else ./report)");
  po::positional_options_description pos;
  pos.add("input", -1);
  po::variables_map vm;
  if (!parse_options(c.args, desc, pos, vm, c.synopsis, c.out)) return 0;

  const report::ReportData data = report::load_report_data(inputs, c.err);
  const report::Table table = report::make_table(data, split_list(rows), split_list(cols));
  metric = plot_metric(data, table, metric);
  if (out.empty()) out = path_exists(path_join(inputs[0], "manifest.json")) ? path_join(inputs[0], "report") : "report";
  create_directories(out);
  write_file(path_join(out, "report.tex"), report::format_latex(table));
  write_file(path_join(out, "report.csv"), report::format_csv(data));

  std::vector<std::string> notes;
  const std::vector<report::Plot> plots = metric.empty() ? std::vector<report::Plot>() : report::make_plots(data, metric, notes);
  const std::string plot_dir = path_join(out, "plots");
  const std::string gnuplot = report::find_gnuplot();
  const std::vector<std::string> failures = report::write_plots(plot_dir, plots, gnuplot);

  c.out << report::format_markdown(table);
  c.err << "pqlab report: wrote " << path_join(out, "report.tex") << ", " << path_join(out, "report.csv");
  if (plots.empty()) c.err << "; no plots (the results have none of the numbers or axes the plots need)\n";
  else c.err << " and " << plots.size() << " plot" << (plots.size() > 1 ? "s" : "") << " in " << plot_dir << ":\n";
  const char* files = gnuplot.empty() ? ".{gp,dat}" : ".{gp,dat,pdf,png}";
  for (const report::Plot& p : plots) c.err << "  " << p.name << files << "  " << p.what << '\n';
  for (const std::string& n : notes) c.err << "pqlab report: note: " << n << '\n';
  if (!plots.empty() && gnuplot.empty())
    c.err << "pqlab report: warning: gnuplot not found in PATH, so no PDF or PNG was drawn; install it (Debian: "
             "apt-get install gnuplot-nox), then run `gnuplot NAME.gp` in "
          << plot_dir << '\n';
  for (const std::string& f : failures) c.err << "pqlab report: error: " << f << '\n';
  return failures.empty() ? 0 : 1;
}

}  // namespace pqlab::cli
