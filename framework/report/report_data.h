// What `pqlab report` reads: the per-variant numbers of result files (the same definitions as the
// table `pqlab run` prints, framework/experiment/summary_table.cpp), and a sweep folder's
// manifest.json that names the axes and each task's result. Tables (report_tables.h) and plots
// (report_plots.h) are built from these records alone, so tests can build them by hand.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

namespace pqlab::report {

/// A paired difference to the control: mean and interval [lo, hi] (NaN when not computed, e.g.
/// one sample).
struct Interval {
  double mean = 0, lo = 0, hi = 0;
};

/// Accepted and considered permutation sites of one site kind.
struct SiteCount {
  std::string kind;
  int64_t accepted = 0, considered = 0;
};

struct VariantRecord {
  std::string label, method, weight_format, act_format;
  std::string control;     ///< label of its paired control, "" = none
  std::string control_of;  ///< on a control: the variant it controls ("" otherwise)
  /// Scalar numbers by name (absent = not in the file): velocity (teacher-forced velocity relative
  /// MSE, mean over samples and steps), velocity_last (its last step), final_latent (free-running
  /// final latent relative MSE, mean over samples), isolated, propagated, weight (mean over the
  /// quantized layers), each output metric (<m>_mean) and each image metric by name.
  std::map<std::string, double> values;
  /// Differences to the control by paired number (velocity, latent, output / image metric names).
  std::map<std::string, Interval> deltas;
  double level = 0;  ///< coverage of the paired intervals (0.95); 0 without a control
  /// [S] teacher-forced velocity relative MSE per step, mean over samples; empty if not measured.
  std::vector<double> velocity_steps;
  /// [S] paired velocity difference per step: mean and interval (empty without a control).
  std::vector<double> step_mean, step_lo, step_hi;
  std::vector<SiteCount> sites;  ///< permutation decisions per site kind, in model order of first use

  bool is_control() const { return !control_of.empty(); }
};

struct ResultRecord {
  std::string path;        ///< the file as named in the report (relative to its sweep folder for a task)
  std::string experiment;  ///< root attribute `experiment`
  int64_t index = 0;       ///< sweep task index; position among the report's results otherwise
  std::map<std::string, std::string> axis_values;  ///< axis name -> value (YAML flow text)
  std::vector<VariantRecord> variants;             ///< config order, controls included

  /// The variant labelled `label`, or null.
  const VariantRecord* find(const std::string& label) const;
};

struct Axis {
  std::string key;   ///< config key path, e.g. variants.0.method.weight_format.group_size
  std::string name;  ///< short display name, unique among axes
};

struct ReportData {
  std::vector<Axis> axes;  ///< sweep axes, in manifest order (none for plain result files)
  std::vector<ResultRecord> results;
  std::vector<std::string> missing;  ///< one line per sweep task without a readable result
};

/// Reads one result file. `shown_path` is how tables name it. Throws UsageError when `path` is
/// not a readable pqlab result file.
ResultRecord read_result(const std::string& path, const std::string& shown_path);

/// Reads every argument: a sweep folder (a directory with manifest.json) or a result file.
/// Tasks without a readable result are listed in `missing` and noted on `notes`. Throws
/// UsageError for a path that is neither, and RuntimeError when no result at all was found.
ReportData load_report_data(const std::vector<std::string>& paths, std::ostream& notes);

/// Whether `value` parses completely as a number (axis values such as "32" or "0.5").
bool parse_number(const std::string& value, double& out);

}  // namespace pqlab::report
