// The table model of `pqlab report`: which rows (one per result file and non-control variant) and
// columns a report shows, the column names the command line accepts, and which cells are best and
// second best. Writers of Markdown, LaTeX and CSV are in report_tables.h.
#pragma once
#include <string>
#include <vector>

#include "framework/report/report_data.h"

namespace pqlab::report {

/// Whether `s` ends with `end` (axis and metric names are matched by their endings).
inline bool ends_with(const std::string& s, const std::string& end) {
  return s.size() >= end.size() && s.compare(s.size() - end.size(), end.size(), end) == 0;
}

enum class Better { lower, higher, none };

/// Direction of a metric by its name: errors (rel_mse, velocity, latent, isolated, propagated,
/// weight, *_fd, frechet) are better lower; psnr, ssim, sqnr and accuracy higher; others: none.
/// A delta column (delta_<name>) goes the way of its number.
Better better_of(const std::string& name);

enum class ColumnKind {
  value,     ///< VariantRecord::values[source]
  delta,     ///< VariantRecord::deltas[source]: mean with its interval
  accepted,  ///< permutation sites accepted / considered (no direction)
};

struct Column {
  std::string name;    ///< as on the command line: velocity, delta_velocity, accepted, ...
  ColumnKind kind = ColumnKind::value;
  std::string source;  ///< the value or paired number it shows
  Better better = Better::none;
};

struct Row {
  const ResultRecord* result = nullptr;
  const VariantRecord* variant = nullptr;  ///< never a control
};

struct Table {
  std::vector<std::string> row_keys;  ///< the label columns, in order
  std::vector<Column> columns;
  std::vector<Row> rows;
  double level = 0;  ///< coverage of the delta intervals when all rows agree, else 0
};

/// Column names the data offers: velocity, velocity_last, final_latent, isolated, propagated,
/// weight, then output and image metrics by name, then delta_<paired number> (velocity and latent
/// first), then accepted. Only names some non-control variant has a number for.
std::vector<std::string> available_columns(const ReportData& d);
/// velocity, final_latent, isolated, delta_velocity, accepted: those that are available.
std::vector<std::string> default_columns(const ReportData& d);
/// Row keys: each axis name (its config key is accepted too), then variant, experiment, file,
/// method, weight_format, act_format.
std::vector<std::string> available_row_keys(const ReportData& d);
/// The axes whose value differs between results; then experiment (or file, when experiment names
/// repeat) for several results that no axis tells apart; then variant when a result has several
/// non-control variants (or nothing else would name the rows).
std::vector<std::string> default_row_keys(const ReportData& d);

/// The column of a name from available_columns() (value, delta_<n> or accepted).
Column column_named(const std::string& name);

/// The table for the given row keys and columns (each already validated, or empty for the
/// defaults). Throws UsageError naming an unknown key or column, with a did-you-mean.
Table make_table(const ReportData& d, std::vector<std::string> row_keys, std::vector<std::string> columns);
/// Throws UsageError unless `name` is in `names`: "unknown <what> 'x'; did you mean 'y'? (<what>s: ...)".
void check_name(const std::string& name, const std::vector<std::string>& names, const std::string& what);

/// The text of label column `key` for a row ("" when the result has no such axis).
std::string row_label(const Row& row, const std::string& key);
/// The number a cell is ranked by (the delta's mean for a delta column); false when absent.
bool cell_number(const Row& row, const Column& c, double& out);

enum class Rank { none, best, second };
/// Per row, the rank of its cell in column c: best when the column has at least two distinct
/// finite values, second best (the next distinct value) when it has at least three.
std::vector<Rank> rank_column(const Table& t, const Column& c);

}  // namespace pqlab::report
