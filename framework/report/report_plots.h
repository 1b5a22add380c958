// The figures of `pqlab report`, as gnuplot scripts and data (gnuplot.h). Each kind is drawn only
// where the data has what it needs:
//  * steps_<task>_<label>: teacher-forced velocity relative MSE per step of a variant and of its
//    control, with the paired interval of the difference drawn as a band around the control
//    (control mean + [step_lo, step_hi]); one per variant with a control and at least two steps,
//    at most kMaxStepPlots (the rest are named in a note);
//  * <metric>_vs_<axis>: the metric against a sweep axis whose key ends in "group_size" or
//    "group", one line per combination of the other varying axes (and variant label);
//  * <metric>_<alpha axis>_x_<tau axis>[_<label>][_<slice>]: a heatmap over axes whose keys end
//    in "alpha" and "tau", one per variant label and per value of each other varying axis (the
//    title names them), except axes ending in "seed", which each cell averages; at most
//    kMaxHeatmaps (a note says how many were left out);
//  * acceptance: accepted fraction of permutation sites per site kind, clustered bars, one bar
//    per variant (row of the table; at most kMaxAcceptanceSeries).
#pragma once
#include <string>
#include <vector>

#include "framework/report/gnuplot.h"
#include "framework/report/report_data.h"

namespace pqlab::report {

constexpr size_t kMaxStepPlots = 16;
constexpr size_t kMaxAcceptanceSeries = 12;
constexpr size_t kMaxHeatmaps = 16;

/// All figures the data allows; `metric` (a column name: a value or delta_<n>) is the y of the
/// group-size plot and the colour of the heatmap. Notes about figures cut short go to `notes`.
std::vector<Plot> make_plots(const ReportData& d, const std::string& metric, std::vector<std::string>& notes);

}  // namespace pqlab::report
