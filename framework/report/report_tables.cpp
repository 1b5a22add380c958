#include "framework/report/report_tables.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>

namespace pqlab::report {
namespace {

std::string signed_sig(double v, int digits) { return (v > 0 ? "+" : "") + format_sig(v, digits); }

bool has_interval(const Interval& d) { return std::isfinite(d.lo) && std::isfinite(d.hi); }

int64_t total(const VariantRecord& v, bool accepted) {
  int64_t n = 0;
  for (const SiteCount& s : v.sites) n += accepted ? s.accepted : s.considered;
  return n;
}

// One cell's text before marking; "" when the row has no such number.
std::string cell_text(const Row& row, const Column& c, bool latex) {
  const VariantRecord& v = *row.variant;
  if (c.kind == ColumnKind::accepted) {
    if (v.sites.empty()) return "";
    return std::to_string(total(v, true)) + "/" + std::to_string(total(v, false));
  }
  auto num = [&](double x, int digits, bool sign) {
    const std::string s = sign ? signed_sig(x, digits) : format_sig(x, digits);
    if (!latex) return s;
    if (s == "nan") return std::string("\\mathrm{nan}");
    if (s == "inf" || s == "+inf" || s == "-inf") return std::string(s[0] == '-' ? "-" : "") + "\\infty";
    const size_t e = s.find('e');
    if (e == std::string::npos) return s;
    return s.substr(0, e) + "\\times10^{" + std::to_string(std::atoi(s.c_str() + e + 1)) + "}";
  };
  if (c.kind == ColumnKind::value) {
    const auto it = v.values.find(c.source);
    return it == v.values.end() ? "" : num(it->second, 4, false);
  }
  const auto it = v.deltas.find(c.source);
  if (it == v.deltas.end()) return "";
  const Interval& d = it->second;
  std::string s = num(d.mean, 3, true);
  if (has_interval(d)) s += (latex ? " \\pm " : " ± ") + num((d.hi - d.lo) / 2, 2, false);
  return s;
}

std::string latex_escape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    switch (ch) {
      case '_': case '&': case '%': case '$': case '#': case '{': case '}': o += '\\'; o += ch; break;
      case '~': o += "\\textasciitilde{}"; break;
      case '^': o += "\\textasciicircum{}"; break;
      case '\\': o += "\\textbackslash{}"; break;
      default: o += ch;
    }
  }
  return o;
}

std::string header_text(const Column& c, bool latex) {
  const std::string& shown = c.kind == ColumnKind::delta ? c.source : c.name;
  const std::string name = latex ? latex_escape(shown) : shown;
  std::string h = c.kind == ColumnKind::delta ? (latex ? "$\\Delta$ " : "Δ ") + name : name;
  if (c.better == Better::lower) h += latex ? " $\\downarrow$" : " ↓";
  if (c.better == Better::higher) h += latex ? " $\\uparrow$" : " ↑";
  return h;
}

std::string markdown_escape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    if (ch == '|') o += '\\';
    o += ch;
  }
  return o;
}

bool has_kind(const Table& t, ColumnKind k) {
  for (const Column& c : t.columns)
    if (c.kind == k) return true;
  return false;
}

std::string level_text(const Table& t) {
  return t.level > 0 ? format_sig(100 * t.level, 3) + "% " : "";
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string o = "\"";
  for (char ch : s) o += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return o + "\"";
}

std::string full(double v) {
  if (std::isnan(v)) return "nan";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

std::string format_sig(double v, int digits) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

std::string format_markdown(const Table& t) {
  std::ostringstream os;
  os << '|';
  for (const auto& k : t.row_keys) os << ' ' << markdown_escape(k) << " |";
  for (const Column& c : t.columns) os << ' ' << header_text(c, false) << " |";
  os << "\n|";
  for (size_t i = 0; i < t.row_keys.size(); ++i) os << "---|";
  for (size_t i = 0; i < t.columns.size(); ++i) os << "---:|";
  os << '\n';
  std::vector<std::vector<Rank>> ranks;
  for (const Column& c : t.columns) ranks.push_back(rank_column(t, c));
  for (size_t r = 0; r < t.rows.size(); ++r) {
    os << '|';
    for (const auto& k : t.row_keys) os << ' ' << markdown_escape(row_label(t.rows[r], k)) << " |";
    for (size_t c = 0; c < t.columns.size(); ++c) {
      std::string s = cell_text(t.rows[r], t.columns[c], false);
      if (s.empty()) s = "-";
      else if (ranks[c][r] == Rank::best) s = "**" + s + "**";
      else if (ranks[c][r] == Rank::second) s = "*" + s + "*";
      os << ' ' << s << " |";
    }
    os << '\n';
  }
  os << "\n↓ lower is better, ↑ higher is better; per column **best**, *second best*.";
  if (has_kind(t, ColumnKind::delta))
    os << " Δ: the variant minus its paired control (same samples and seeds), mean ± half-width of the "
       << level_text(t) << "paired bootstrap interval.";
  if (has_kind(t, ColumnKind::accepted)) os << " accepted: permutation sites accepted / considered.";
  os << '\n';
  return os.str();
}

std::string format_latex(const Table& t) {
  std::ostringstream os;
  os << "% pqlab report; needs \\usepackage{booktabs}. Bold: best per column, underlined: second best.\n";
  if (has_kind(t, ColumnKind::delta))
    os << "% Delta: the variant minus its paired control, mean \\pm half-width of the " << level_text(t)
       << "paired bootstrap interval.\n";
  os << "\\begin{tabular}{" << std::string(t.row_keys.size(), 'l') << std::string(t.columns.size(), 'r') << "}\n"
     << "\\toprule\n";
  std::vector<std::string> head;
  for (const auto& k : t.row_keys) head.push_back(latex_escape(k));
  for (const Column& c : t.columns) head.push_back(header_text(c, true));
  for (size_t i = 0; i < head.size(); ++i) os << (i ? " & " : "") << head[i];
  os << " \\\\\n\\midrule\n";
  std::vector<std::vector<Rank>> ranks;
  for (const Column& c : t.columns) ranks.push_back(rank_column(t, c));
  for (size_t r = 0; r < t.rows.size(); ++r) {
    std::vector<std::string> cells;
    for (const auto& k : t.row_keys) cells.push_back(latex_escape(row_label(t.rows[r], k)));
    for (size_t c = 0; c < t.columns.size(); ++c) {
      const std::string s = cell_text(t.rows[r], t.columns[c], true);
      const bool math = t.columns[c].kind != ColumnKind::accepted;
      if (s.empty()) cells.push_back("--");
      else if (!math) cells.push_back(ranks[c][r] == Rank::none ? s : "\\textbf{" + s + "}");
      else if (ranks[c][r] == Rank::best) cells.push_back("$\\mathbf{" + s + "}$");
      else if (ranks[c][r] == Rank::second) cells.push_back("\\underline{$" + s + "$}");
      else cells.push_back("$" + s + "$");
    }
    for (size_t i = 0; i < cells.size(); ++i) os << (i ? " & " : "") << cells[i];
    os << " \\\\\n";
  }
  os << "\\bottomrule\n\\end{tabular}\n";
  return os.str();
}

std::string format_csv(const ReportData& d) {
  std::set<std::string> value_set, delta_set, kind_set;
  bool controls = false;
  for (const ResultRecord& r : d.results)
    for (const VariantRecord& v : r.variants) {
      if (v.is_control()) continue;
      for (const auto& kv : v.values) value_set.insert(kv.first);
      for (const auto& kv : v.deltas) delta_set.insert(kv.first);
      for (const SiteCount& s : v.sites) kind_set.insert(s.kind);
      controls = controls || !v.control.empty();
    }
  // The column order of the tables: the run's own numbers first.
  std::vector<std::string> values, deltas;
  for (const std::string& c : available_columns(d)) {
    if (value_set.count(c)) values.push_back(c);
    if (c.compare(0, 6, "delta_") == 0 && delta_set.count(c.substr(6))) deltas.push_back(c.substr(6));
  }
  std::vector<std::string> head = {"experiment", "file", "task"};
  for (const Axis& a : d.axes) head.push_back(a.name);
  for (const char* h : {"variant", "control", "method", "weight_format", "act_format"}) head.push_back(h);
  for (const auto& v : values) head.push_back(v);
  if (controls)
    for (const auto& v : values) head.push_back("control_" + v);
  for (const auto& n : deltas)
    for (const char* suffix : {"", "_lo", "_hi"}) head.push_back("delta_" + n + suffix);
  if (!deltas.empty()) head.push_back("level");
  if (!kind_set.empty()) {
    head.push_back("accepted");
    head.push_back("considered");
    for (const auto& k : kind_set) {
      head.push_back("accepted_" + k);
      head.push_back("considered_" + k);
    }
  }
  std::ostringstream os;
  for (size_t i = 0; i < head.size(); ++i) os << (i ? "," : "") << csv_field(head[i]);
  os << '\n';
  for (const ResultRecord& r : d.results)
    for (const VariantRecord& v : r.variants) {
      if (v.is_control()) continue;
      std::vector<std::string> f = {r.experiment, r.path, std::to_string(r.index)};
      for (const Axis& a : d.axes) {
        const auto it = r.axis_values.find(a.name);
        f.push_back(it == r.axis_values.end() ? "" : it->second);
      }
      for (const std::string& s : {v.label, v.control, v.method, v.weight_format, v.act_format}) f.push_back(s);
      auto value_of = [](const VariantRecord* x, const std::string& n) {
        if (!x) return std::string();
        const auto it = x->values.find(n);
        return it == x->values.end() ? std::string() : full(it->second);
      };
      for (const auto& n : values) f.push_back(value_of(&v, n));
      const VariantRecord* control = v.control.empty() ? nullptr : r.find(v.control);
      if (controls)
        for (const auto& n : values) f.push_back(value_of(control, n));
      for (const auto& n : deltas) {
        const auto it = v.deltas.find(n);
        for (int i = 0; i < 3; ++i)
          f.push_back(it == v.deltas.end() ? "" : full(i == 0 ? it->second.mean : i == 1 ? it->second.lo : it->second.hi));
      }
      if (!deltas.empty()) f.push_back(v.deltas.empty() ? "" : full(v.level));
      if (!kind_set.empty()) {
        f.push_back(v.sites.empty() ? "" : std::to_string(total(v, true)));
        f.push_back(v.sites.empty() ? "" : std::to_string(total(v, false)));
        for (const auto& k : kind_set) {
          const SiteCount* s = nullptr;
          for (const SiteCount& x : v.sites)
            if (x.kind == k) s = &x;
          f.push_back(s ? std::to_string(s->accepted) : "");
          f.push_back(s ? std::to_string(s->considered) : "");
        }
      }
      for (size_t i = 0; i < f.size(); ++i) os << (i ? "," : "") << csv_field(f[i]);
      os << '\n';
    }
  return os.str();
}

}  // namespace pqlab::report
