// Child processes for the sweep launchers: start one with its output appended to a log file, or
// run one and capture what it prints (sbatch, squeue). fork/exec by hand because no packaged
// library we depend on does it (boost::process is not among our Boost components, and popen goes
// through a shell, which would need every path quoted).
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace pqlab {

/// Starts argv[0] (a path, or a name looked up in PATH) with argv, in `workdir` (empty: this
/// one), stdout and stderr appended to `log_path`, stdin from /dev/null, plus `env` (NAME, value)
/// pairs. Returns the child's pid. RuntimeError when fork fails; a failed exec makes the child
/// exit 127 after writing why into the log.
long spawn_logged(const std::vector<std::string>& argv, const std::string& workdir, const std::string& log_path,
                  const std::vector<std::pair<std::string, std::string>>& env = {});

struct CommandOutput {
  int exit_code = 0;   ///< as exit_code_of()
  std::string output;  ///< stdout and stderr together
};

/// Runs argv to completion (in `workdir` when not empty) and returns its exit code and output. A
/// program that cannot be started gives exit code 127 and says why in the output.
CommandOutput run_command(const std::vector<std::string>& argv, const std::string& workdir = "");

/// A waitpid() status as a shell would report it: the exit code, or 128 + the signal number.
int exit_code_of(int wait_status);

/// The path of the executable `name` found first in PATH ("" when none); a name with a '/' is
/// returned as is when it is executable.
std::string find_program(const std::string& name);
/// find_program(name) is not empty.
inline bool program_exists(const std::string& name) { return !find_program(name).empty(); }

}  // namespace pqlab
