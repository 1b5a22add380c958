// The tables of `pqlab report`: Markdown (stdout), LaTeX booktabs (report.tex) and CSV
// (report.csv). Markdown and LaTeX show the chosen rows and columns, 4 significant digits, the
// best cell per column in bold and the second best underlined (Markdown: italic); a delta to the
// control as "mean ± half-width" of its interval. The CSV holds every number at full precision.
#pragma once
#include <string>

#include "framework/report/report_columns.h"

namespace pqlab::report {

/// A GitHub-flavoured Markdown table, then one paragraph explaining arrows, marks and deltas.
std::string format_markdown(const Table& t);

/// A booktabs tabular (needs \usepackage{booktabs}), preceded by comments explaining the marks.
std::string format_latex(const Table& t);

/// One line per (result, non-control variant), independent of the table's rows and columns:
/// experiment, file, task, every axis, variant, control, method, weight_format, act_format, every
/// value, control_<value> (the control's), delta_<n> with delta_<n>_lo / _hi, level, accepted and
/// considered sites in all and per kind (accepted_<kind>, considered_<kind>). Numbers in %.17g
/// ("nan" for NaN), empty cells where a result has no such number; fields quoted as RFC 4180
/// asks. Nothing depends on when or where the runs were made, so equal results give equal bytes.
std::string format_csv(const ReportData& d);

/// Numbers as the tables show them: %.<digits>g ("nan", "inf", "-inf").
std::string format_sig(double v, int digits);

}  // namespace pqlab::report
