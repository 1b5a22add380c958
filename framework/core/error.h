// Error types and gcc-style diagnostics. The exit code travels with the exception so that main()
// alone decides how the process ends: 2 for usage/config errors, 1 for runtime failures.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

namespace pqlab {

/// A position in a source file, 1-based. line == 0 means "no position" (e.g. a command-line value).
struct SourceLocation {
  std::string file;       ///< as the user named it
  int line = 0;
  int column = 0;
  int length = 1;         ///< characters to underline (caret + tildes)
  std::string line_text;  ///< the source line, shown under the message
};

/// One error with optional position and notes (each note is printed as "note: <text>").
struct Diagnostic {
  SourceLocation loc;
  std::string message;
  std::vector<std::string> notes;
};

/// Renders "file:line:col: error: msg", the source line with a caret, then the notes. Long
/// messages, notes and source lines are cut (the source line to a window around the column).
std::string format_diagnostic(const Diagnostic& d);

class Error : public std::runtime_error {
 public:
  Error(const std::string& what, int exit_code) : std::runtime_error(what), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

/// Bad command line or a request that cannot be satisfied as stated (exit 2).
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& what) : Error(what, 2) {}
};

/// Failure while doing valid work: I/O, numerical, device (exit 1).
class RuntimeError : public Error {
 public:
  explicit RuntimeError(const std::string& what) : Error(what, 1) {}
};

/// One or more configuration errors, each with its source position (exit 2).
class ConfigError : public Error {
 public:
  explicit ConfigError(std::vector<Diagnostic> diags);
  const std::vector<Diagnostic>& diagnostics() const { return diags_; }

 private:
  std::vector<Diagnostic> diags_;
};

}  // namespace pqlab
