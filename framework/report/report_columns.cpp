#include "framework/report/report_columns.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "framework/core/error.h"
#include "framework/core/spellcheck.h"

namespace pqlab::report {
namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The numbers every run writes come first, in the order of the run's own table.
const std::vector<std::string> kLeadingValues = {"velocity", "velocity_last", "final_latent", "isolated", "propagated", "weight"};
const std::vector<std::string> kLeadingDeltas = {"velocity", "latent"};
const std::string kDeltaPrefix = "delta_";
const std::vector<std::string> kFixedRowKeys = {"variant", "experiment", "file", "method", "weight_format", "act_format"};

std::vector<std::string> ordered(const std::set<std::string>& names, const std::vector<std::string>& leading) {
  std::vector<std::string> v;
  for (const auto& n : leading)
    if (names.count(n)) v.push_back(n);
  for (const auto& n : names)
    if (std::find(leading.begin(), leading.end(), n) == leading.end()) v.push_back(n);
  return v;
}

template <class F>
void for_each_variant(const ReportData& d, F f) {
  for (const ResultRecord& r : d.results)
    for (const VariantRecord& v : r.variants)
      if (!v.is_control()) f(r, v);
}

}  // namespace

Column column_named(const std::string& name) {
  if (name == "accepted") return {name, ColumnKind::accepted, "", Better::none};
  if (name.compare(0, kDeltaPrefix.size(), kDeltaPrefix) == 0) {
    const std::string src = name.substr(kDeltaPrefix.size());
    return {name, ColumnKind::delta, src, better_of(src)};
  }
  return {name, ColumnKind::value, name, better_of(name)};
}

Better better_of(const std::string& name) {
  if (name.compare(0, kDeltaPrefix.size(), kDeltaPrefix) == 0) return better_of(name.substr(kDeltaPrefix.size()));
  for (const char* up : {"psnr", "ssim", "sqnr", "accuracy", "cosine"})
    if (contains(name, up)) return Better::higher;
  for (const char* down : {"mse", "velocity", "latent", "isolated", "propagated", "weight", "frechet"})
    if (contains(name, down)) return Better::lower;
  if (ends_with(name, "_fd") || name == "fd") return Better::lower;
  return Better::none;
}

std::vector<std::string> available_columns(const ReportData& d) {
  std::set<std::string> values, deltas;
  bool sites = false;
  for_each_variant(d, [&](const ResultRecord&, const VariantRecord& v) {
    for (const auto& kv : v.values) values.insert(kv.first);
    for (const auto& kv : v.deltas) deltas.insert(kv.first);
    sites = sites || !v.sites.empty();
  });
  std::vector<std::string> names = ordered(values, kLeadingValues);
  for (const auto& n : ordered(deltas, kLeadingDeltas)) names.push_back(kDeltaPrefix + n);
  if (sites) names.push_back("accepted");
  return names;
}

std::vector<std::string> default_columns(const ReportData& d) {
  const std::vector<std::string> all = available_columns(d);
  std::vector<std::string> v;
  for (const char* n : {"velocity", "final_latent", "isolated", "delta_velocity", "accepted"})
    if (std::find(all.begin(), all.end(), n) != all.end()) v.push_back(n);
  if (v.empty()) v.assign(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(3, all.size())));
  return v;
}

std::vector<std::string> available_row_keys(const ReportData& d) {
  std::vector<std::string> v;
  for (const Axis& a : d.axes) v.push_back(a.name);
  v.insert(v.end(), kFixedRowKeys.begin(), kFixedRowKeys.end());
  return v;
}

std::vector<std::string> default_row_keys(const ReportData& d) {
  std::vector<std::string> keys;
  for (const Axis& a : d.axes) {
    std::set<std::string> seen;
    for (const ResultRecord& r : d.results) {
      const auto it = r.axis_values.find(a.name);
      seen.insert(it == r.axis_values.end() ? "" : it->second);
    }
    if (seen.size() > 1) keys.push_back(a.name);
  }
  if (d.results.size() > 1 && keys.empty()) {
    std::set<std::string> experiments;
    for (const ResultRecord& r : d.results) experiments.insert(r.experiment);
    keys.push_back(experiments.size() == d.results.size() ? "experiment" : "file");
  }
  bool several = false;
  for (const ResultRecord& r : d.results)
    several = several || std::count_if(r.variants.begin(), r.variants.end(),
                                       [](const VariantRecord& v) { return !v.is_control(); }) > 1;
  if (several || keys.empty()) keys.push_back("variant");
  return keys;
}

void check_name(const std::string& name, const std::vector<std::string>& names, const std::string& what) {
  if (std::find(names.begin(), names.end(), name) != names.end()) return;
  std::string msg = "unknown " + what + " '" + name + "'";
  const std::string guess = closest_match(name, names);
  if (!guess.empty()) msg += "; did you mean '" + guess + "'?";
  throw UsageError(msg + " (" + what + "s: " + join(names) + ")");
}

Table make_table(const ReportData& d, std::vector<std::string> row_keys, std::vector<std::string> columns) {
  Table t;
  if (row_keys.empty()) row_keys = default_row_keys(d);
  if (columns.empty()) columns = default_columns(d);
  const std::vector<std::string> keys = available_row_keys(d);
  for (std::string k : row_keys) {
    for (const Axis& a : d.axes)
      if (k == a.key) k = a.name;  // the config key names its axis too
    check_name(k, keys, "row key");
    t.row_keys.push_back(k);
  }
  const std::vector<std::string> names = available_columns(d);
  for (const std::string& c : columns) {
    check_name(c, names, "column");
    t.columns.push_back(column_named(c));
  }
  std::set<double> levels;
  for_each_variant(d, [&](const ResultRecord& r, const VariantRecord& v) {
    t.rows.push_back({&r, &v});
    if (!v.control.empty()) levels.insert(v.level);
  });
  t.level = levels.size() == 1 ? *levels.begin() : 0;
  return t;
}

std::string row_label(const Row& row, const std::string& key) {
  const VariantRecord& v = *row.variant;
  if (key == "variant") return v.label;
  if (key == "experiment") return row.result->experiment;
  if (key == "file") return row.result->path;
  if (key == "method") return v.method;
  if (key == "weight_format") return v.weight_format;
  if (key == "act_format") return v.act_format;
  const auto it = row.result->axis_values.find(key);
  return it == row.result->axis_values.end() ? "" : it->second;
}

bool cell_number(const Row& row, const Column& c, double& out) {
  const VariantRecord& v = *row.variant;
  if (c.kind == ColumnKind::value) {
    const auto it = v.values.find(c.source);
    if (it == v.values.end()) return false;
    out = it->second;
    return true;
  }
  if (c.kind == ColumnKind::delta) {
    const auto it = v.deltas.find(c.source);
    if (it == v.deltas.end()) return false;
    out = it->second.mean;
    return true;
  }
  int64_t accepted = 0, considered = 0;
  for (const SiteCount& s : v.sites) {
    accepted += s.accepted;
    considered += s.considered;
  }
  if (considered == 0) return false;
  out = static_cast<double>(accepted) / static_cast<double>(considered);
  return true;
}

std::vector<Rank> rank_column(const Table& t, const Column& c) {
  std::vector<Rank> ranks(t.rows.size(), Rank::none);
  if (c.better == Better::none) return ranks;
  std::vector<double> distinct;
  for (const Row& r : t.rows) {
    double x = 0;
    if (cell_number(r, c, x) && std::isfinite(x)) distinct.push_back(x);
  }
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  if (c.better == Better::higher) std::reverse(distinct.begin(), distinct.end());
  if (distinct.size() < 2) return ranks;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    double x = 0;
    if (!cell_number(t.rows[i], c, x)) continue;
    if (x == distinct[0]) ranks[i] = Rank::best;
    if (distinct.size() >= 3 && x == distinct[1]) ranks[i] = Rank::second;
  }
  return ranks;
}

}  // namespace pqlab::report
