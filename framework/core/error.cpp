#include "framework/core/error.h"

#include <algorithm>
#include <sstream>

namespace pqlab {

std::string format_diagnostic(const Diagnostic& d) {
  std::ostringstream os;
  if (!d.loc.file.empty()) {
    os << d.loc.file << ':';
    if (d.loc.line > 0) os << d.loc.line << ':' << d.loc.column << ':';
    os << ' ';
  }
  os << "error: " << d.message << '\n';
  if (d.loc.line > 0 && !d.loc.line_text.empty()) {
    const std::string num = std::to_string(d.loc.line);
    const std::string pad(num.size() + 2, ' ');
    os << ' ' << num << " | " << d.loc.line_text << '\n';
    // Tabs stay tabs so the caret lines up with the text above it.
    std::string lead;
    for (int i = 0; i + 1 < d.loc.column && i < static_cast<int>(d.loc.line_text.size()); ++i)
      lead += d.loc.line_text[i] == '\t' ? '\t' : ' ';
    os << pad << "| " << lead << '^' << std::string(std::max(0, d.loc.length - 1), '~') << '\n';
  }
  for (const auto& n : d.notes) os << "note: " << n << '\n';
  return os.str();
}

static std::string join_diagnostics(const std::vector<Diagnostic>& diags) {
  std::string s;
  for (const auto& d : diags) s += format_diagnostic(d);
  return s;
}

ConfigError::ConfigError(std::vector<Diagnostic> diags)
    : Error(join_diagnostics(diags), 2), diags_(std::move(diags)) {}

}  // namespace pqlab
