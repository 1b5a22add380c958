#include "framework/core/progress.h"

#include <cstdio>
#include <ostream>

namespace pqlab {
namespace {

std::string clock_text(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

}  // namespace

Progress::Progress(std::ostream* out, bool terminal) : out_(out), terminal_(terminal) {}

void Progress::phase(const std::string& name, int64_t total) {
  if (!phase_.empty()) finish();
  phase_ = name;
  total_ = total;
  done_ = 0;
  detail_.clear();
  start_ = last_print_ = std::chrono::steady_clock::now();
  print(true);
}

void Progress::advance(const std::string& detail) {
  ++done_;
  detail_ = detail;
  print(done_ == total_);
}

void Progress::finish() {
  if (out_ && terminal_ && !phase_.empty()) *out_ << '\n' << std::flush;
  phase_.clear();
}

void Progress::print(bool force) {
  if (!out_) return;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_print_).count();
  // A terminal line is cheap to redraw; a log gets a line every 5 s (and the phase's first and last).
  if (!force && since < (terminal_ ? 0.1 : 5.0)) return;
  last_print_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  std::string eta = "-";
  if (done_ > 0 && total_ > done_) eta = clock_text(elapsed / static_cast<double>(done_) * static_cast<double>(total_ - done_));
  const int pct = total_ > 0 ? static_cast<int>(100 * done_ / total_) : 100;
  char head[64];
  std::snprintf(head, sizeof head, "%3d%% %lld/%lld", pct, static_cast<long long>(done_), static_cast<long long>(total_));
  std::string line = "pqlab: " + phase_ + " " + head + " elapsed " + clock_text(elapsed) + " eta " + eta;
  if (!detail_.empty()) line += " (" + detail_ + ")";
  if (terminal_) {
    const int width = 20, filled = total_ > 0 ? static_cast<int>(width * done_ / total_) : width;
    line = "\r" + line.substr(0, 7) + "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] " +
           line.substr(7) + "\033[K";
    *out_ << line << std::flush;
  } else {
    *out_ << line << '\n' << std::flush;
  }
}

}  // namespace pqlab
