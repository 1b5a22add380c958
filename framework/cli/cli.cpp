#include "framework/cli/cli.h"

#include <boost/program_options/errors.hpp>

#include <algorithm>
#include <exception>
#include <memory>
#include <ostream>

#include "framework/config/config_reader.h"
#include "framework/core/error.h"
#include "framework/core/spellcheck.h"
#include "framework/core/version.h"
#include "framework/registry/registries.h"

namespace pqlab::cli {
namespace {

// clang-format off
const Command kCommands[] = {
  {"run",          "run <experiment.yaml> [--set key.path=value ...] [--out DIR] | run --task <sweep task dir>", "run an experiment and write its HDF5 result", &command_run},
  {"sweep",        "sweep <experiment.yaml> [--grid key=a,b ...] [--zip key=a,b ...] [--set key=value ...] [--launcher local|slurm] [--dry-run | --status]",
                                                                                   "expand a sweep into runs and run, resume or submit them", &command_sweep},
  {"validate",     "validate <experiment.yaml> [--set key.path=value ...]",        "parse and build an experiment without running it", &command_validate},
  {"list",         "list [kind]",                                                  "list registered plugins per kind", &command_list},
  {"explain",      "explain <kind> <name>",                                        "show a plugin's config keys: type, default, help", &command_explain},
  {"inspect",      "inspect <result.h5>",                                          "summarize a result file", &command_inspect},
  {"report",       "report <sweep dir | result.h5 ...> [--rows KEYS] [--cols METRICS] [--metric M] [--out DIR]",
                                                                                   "tables (Markdown, LaTeX, CSV) and plots of results or a sweep", &command_report},
  {"quant-tensor", "quant-tensor --format NAME [--group-size N] [--set key=value ...] --in X.safetensors --out Y.safetensors [--codes]",
                                                                                   "fake-quantize every tensor of a safetensors file", &command_quant_tensor},
  {"sample",       "sample <experiment.yaml> [--set key.path=value ...] [--out FILE] [--count N]",
                                                                                   "run the model in full precision (FLUX: the sampler) and save the outputs", &command_sample},
};
// clang-format on

// The framework's commands, then the plugins' (kind `command`, framework/interfaces/command.h).
struct Listed {
  std::string name, synopsis, help;
  const Command* builtin = nullptr;  ///< null: a plugin command
  std::string plugin;                ///< its registry name
};

std::vector<Listed> all_commands(const Registries& r) {
  std::vector<Listed> v;
  for (const auto& c : kCommands) v.push_back({c.name, c.synopsis, c.help, &c, ""});
  for (const auto* e : r.commands.entries()) {
    std::string name = e->name;
    std::replace(name.begin(), name.end(), '_', '-');
    v.push_back({name, "", e->help, nullptr, e->name});
  }
  return v;
}

std::shared_ptr<CliCommand> make_command(const Registries& r, const std::string& plugin) {
  config::ErrorList errors;
  config::ConfigReader io(nullptr, "command", errors, &r);
  auto cmd = r.commands.at(plugin).create(io);
  io.finish();
  if (!cmd) throw RuntimeError("command '" + plugin + "' could not be created");
  return cmd;
}

void print_help(std::ostream& out, const std::vector<Listed>& commands) {
  out << "pqlab " << version() << ": post-training quantization experiments for diffusion transformers\n\n"
      << "usage: pqlab <command> [options]   (pqlab <command> --help for details)\n\ncommands:\n";
  for (const auto& c : commands) out << "  " << c.name << std::string(std::max<size_t>(2, 18 - c.name.size()), ' ') << c.help << '\n';
  out << "\noptions:\n  --help        this text\n  --version     version and git commit\n"
      << "\nexit codes: 0 ok, 2 usage or config error, 1 runtime failure\n";
}

}  // namespace

int run_cli(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  Registries registries;
  register_builtin_plugins(registries);
  const std::vector<Listed> commands = all_commands(registries);
  if (argv.size() < 2) {
    print_help(err, commands);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_help(out, commands);
    return 0;
  }
  if (name == "--version") {
    out << "pqlab " << version() << " (commit " << git_commit() << ")\n";
    return 0;
  }
  const Listed* cmd = nullptr;
  std::vector<std::string> names;
  for (const auto& c : commands) {
    names.push_back(c.name);
    if (name == c.name) cmd = &c;
  }
  if (!cmd) {
    err << "pqlab: error: unknown command '" << name << "'";
    const std::string guess = closest_match(name, names);
    if (!guess.empty()) err << "; did you mean '" << guess << "'?";
    err << "\nnote: commands: " << join(names) << "\n";
    return 2;
  }
  std::string synopsis = cmd->synopsis;
  try {
    CommandContext ctx{std::vector<std::string>(argv.begin() + 2, argv.end()), registries, out, err, synopsis};
    if (cmd->builtin) return cmd->builtin->fn(ctx);
    const auto plugin = make_command(registries, cmd->plugin);
    synopsis = ctx.synopsis = plugin->synopsis();
    return plugin->run(ctx);
  } catch (const ConfigError& e) {
    err << e.what();
    return e.exit_code();
  } catch (const Error& e) {
    err << "pqlab " << name << ": error: " << e.what() << '\n';
    return e.exit_code();
  } catch (const boost::program_options::error& e) {
    err << "pqlab " << name << ": error: " << e.what() << "\nusage: pqlab " << synopsis << '\n';
    return 2;
  } catch (const std::exception& e) {
    // libtorch and the standard library report failures as plain exceptions: runtime failures.
    err << "pqlab " << name << ": error: " << e.what() << '\n';
    return 1;
  }
}

}  // namespace pqlab::cli
