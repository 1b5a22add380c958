// Internal to report_plots*.cpp: one builder per kind of figure (report_plots.h describes them)
// and the helpers they share.
#pragma once
#include <string>
#include <vector>

#include "framework/report/gnuplot.h"
#include "framework/report/report_columns.h"

namespace pqlab::report::plots {

/// A number for a .dat file: %.17g, or NaN (which gnuplot skips).
std::string dat(double v);
/// What a metric is, for axis labels ("velocity relative MSE (teacher-forced)"); else its name.
std::string describe_metric(const std::string& name);
/// The axis label of a column: its description, with ", variant - control" for a delta.
std::string metric_label(const Column& c);
/// The table's rows: every non-control variant of every result, in order.
std::vector<Row> rows_of(const ReportData& d);
/// "group_size=16, alpha=0.5, pq": axis keys as name=value, other row keys as their text.
std::string row_name(const ReportData& d, const Row& row, const std::vector<std::string>& keys);
/// Names of the axes whose value differs between results.
std::vector<std::string> varying_axes(const ReportData& d);
/// Whether the rows carry more than one variant label.
bool several_labels(const std::vector<Row>& rows);
/// The first varying axis whose key or name ends in one of `ends`, or "".
std::string axis_ending(const ReportData& d, const std::vector<std::string>& varying, const std::vector<std::string>& ends);
/// Distinct values of an axis over `rows` (first-seen order), sorted by value when all are numbers.
std::vector<std::string> axis_values(const std::vector<Row>& rows, const std::string& axis, bool& numeric);

void step_plots(const ReportData& d, std::vector<Plot>& plots, std::vector<std::string>& notes);
void group_plot(const ReportData& d, const Column& metric, std::vector<Plot>& plots);
void heatmap_plots(const ReportData& d, const Column& metric, std::vector<Plot>& plots, std::vector<std::string>& notes);
void acceptance_plot(const ReportData& d, std::vector<Plot>& plots, std::vector<std::string>& notes);

}  // namespace pqlab::report::plots
