#include "framework/core/error.h"

#include <algorithm>
#include <sstream>

#include "framework/core/excerpt.h"

namespace pqlab {

std::string format_diagnostic(const Diagnostic& d) {
  // Input controls the message, the source line and the underline: each is cut to a size a
  // terminal can show (a 20,000-character line of brackets helps nobody).
  constexpr size_t kMaxMessage = 2000;
  constexpr int kLineWindow = 160;
  std::ostringstream os;
  if (!d.loc.file.empty()) {
    os << excerpt(d.loc.file, 500) << ':';
    if (d.loc.line > 0) os << d.loc.line << ':' << d.loc.column << ':';
    os << ' ';
  }
  os << "error: " << excerpt(d.message, kMaxMessage) << '\n';
  if (d.loc.line > 0 && !d.loc.line_text.empty()) {
    const std::string num = std::to_string(d.loc.line);
    const std::string pad(num.size() + 2, ' ');
    const int size = static_cast<int>(d.loc.line_text.size());
    const int col = std::max(1, d.loc.column);
    // Show a window of the line around the column when the line is long.
    int first = 0, last = size;
    if (size > kLineWindow) {
      first = std::max(0, std::min(col - 1 - kLineWindow / 4, size - kLineWindow));
      last = first + kLineWindow;
    }
    const std::string head = first > 0 ? "..." : "";
    const std::string tail = last < size ? "..." : "";
    os << ' ' << num << " | " << head << d.loc.line_text.substr(first, last - first) << tail << '\n';
    // Tabs stay tabs so the caret lines up with the text above it.
    std::string lead(head.size(), ' ');
    for (int i = first; i + 1 < col && i < last; ++i) lead += d.loc.line_text[i] == '\t' ? '\t' : ' ';
    const int tildes = std::min(std::max(0, d.loc.length - 1), std::max(0, last - col));
    os << pad << "| " << lead << '^' << std::string(tildes, '~') << '\n';
  }
  for (const auto& n : d.notes) os << "note: " << excerpt(n, kMaxMessage) << '\n';
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
