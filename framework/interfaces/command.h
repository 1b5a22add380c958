// A `pqlab` sub-command that belongs to a plugin rather than to the framework: a model's own tools
// (`pqlab forward` runs one FLUX transformer call, `pqlab train-flux` trains the built-in model).
// The framework's commands (run, validate, list, ...) are a table in framework/cli/cli.cpp;
// plugin commands follow them in `pqlab --help`. The command's name is the plugin name with '_'
// written as '-' (plugin train_flux = `pqlab train-flux`), since plugin names are file stems.
#pragma once
#include <iosfwd>
#include <string>
#include <vector>

namespace pqlab {
struct Registries;
namespace config { class ConfigIo; }

namespace cli {
/// What every sub-command gets.
struct CommandContext {
  std::vector<std::string> args;  ///< arguments after the sub-command name
  const Registries& registries;
  std::ostream& out;
  std::ostream& err;
  std::string synopsis;  ///< the command's usage line after "pqlab " (for --help and usage errors)
};
}  // namespace cli

class CliCommand {
 public:
  virtual ~CliCommand() = default;
  /// Commands take their options from the command line, not from a config: no keys.
  virtual void map_config(config::ConfigIo&) {}
  /// The usage line after "pqlab ", e.g. "forward --checkpoint PATH ...".
  virtual std::string synopsis() const = 0;
  /// Returns the exit code: 0 ok, 2 usage or config error, 1 runtime failure (errors may also be
  /// thrown as pqlab::Error, which the CLI prints and maps to its exit code).
  virtual int run(cli::CommandContext& c) const = 0;
};

/// The empty typed config of a command plugin.
struct NoCommandConfig {
  template <class IO> static void map(IO&, NoCommandConfig&) {}
};

}  // namespace pqlab
