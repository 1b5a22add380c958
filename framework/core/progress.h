// Progress of a long run on stderr: phase, what is being computed (variant, step, sample) and an
// ETA from the phase's rate so far. On a terminal one line is redrawn in place (carriage return);
// anywhere else (a Slurm log, a pipe) plain lines at most every few seconds, with no escape codes.
#pragma once
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace pqlab {

class Progress {
 public:
  /// out: null = silent (--quiet). terminal: redraw in place.
  Progress(std::ostream* out, bool terminal);
  /// Starts a phase of `total` units (model calls), e.g. "calibration", "w4a4 teacher-forced".
  void phase(const std::string& name, int64_t total);
  /// One unit done; detail says which ("step 3/12, sample 2/10").
  void advance(const std::string& detail);
  /// Ends the phase (terminal: finishes the line).
  void finish();

 private:
  void print(bool force);
  std::ostream* out_;
  bool terminal_;
  std::string phase_, detail_;
  int64_t total_ = 0, done_ = 0;
  std::chrono::steady_clock::time_point start_, last_print_;
};

}  // namespace pqlab
