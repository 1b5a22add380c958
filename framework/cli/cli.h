// The pqlab command line as a library: main() only forwards to run_cli().
#pragma once
#include <iosfwd>
#include <string>
#include <vector>

#include "framework/interfaces/command.h"

namespace pqlab::cli {

using CommandFn = int (*)(CommandContext&);

struct Command {
  const char* name;
  const char* synopsis;  ///< usage line after "pqlab "
  const char* help;      ///< one line
  CommandFn fn;
};

/// Runs the CLI. Returns the process exit code: 0 ok, 2 usage/config error, 1 runtime failure.
int run_cli(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err);

int command_run(CommandContext& c);
int command_validate(CommandContext& c);
int command_list(CommandContext& c);
int command_explain(CommandContext& c);
int command_inspect(CommandContext& c);
int command_report(CommandContext& c);
int command_quant_tensor(CommandContext& c);
int command_sample(CommandContext& c);
int command_sweep(CommandContext& c);

}  // namespace pqlab::cli
