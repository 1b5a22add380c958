#include "framework/cli/cli.h"

#include <boost/program_options/errors.hpp>

#include <algorithm>
#include <exception>
#include <ostream>

#include "framework/core/error.h"
#include "framework/core/spellcheck.h"
#include "framework/core/version.h"
#include "framework/registry/registries.h"

namespace pqlab::cli {
namespace {

// clang-format off
const Command kCommands[] = {
  {"run",          "run <experiment.yaml> [--set key.path=value ...] [--out DIR]", "run an experiment and write its HDF5 result", &command_run},
  {"validate",     "validate <experiment.yaml> [--set key.path=value ...]",        "parse and build an experiment without running it", &command_validate},
  {"list",         "list [kind]",                                                  "list registered plugins per kind", &command_list},
  {"explain",      "explain <kind> <name>",                                        "show a plugin's config keys: type, default, help", &command_explain},
  {"inspect",      "inspect <result.h5>",                                          "summarize a result file", &command_inspect},
  {"quant-tensor", "quant-tensor --format NAME [--group-size N] [--set key=value ...] --in X.safetensors --out Y.safetensors [--codes]",
                                                                                   "fake-quantize every tensor of a safetensors file", &command_quant_tensor},
  {"forward",      "forward --checkpoint PATH --inputs IN.safetensors --out OUT.safetensors [--dtype fp32|bf16] [--device cpu|cuda] [--intermediates]",
                                                                                   "run one FLUX transformer forward on saved inputs", &command_forward},
  {"sample",       "sample <experiment.yaml> [--set key.path=value ...] [--out FILE] [--count N]",
                                                                                   "run the model in full precision (FLUX: the sampler) and save the outputs", &command_sample},
  {"train-flux",   "train-flux <config.yaml> --out FILE.safetensors [--set key=value ...]",
                                                                                   "train the built-in Fashion-MNIST FLUX (configs/train/fmnist_flux.yaml)", &command_train_flux},
  {"train-classifier", "train-classifier <config.yaml> --out FILE.safetensors [--set key=value ...]",
                                                                                   "train the Fashion-MNIST classifier of the image metrics", &command_train_classifier},
};
// clang-format on

void print_help(std::ostream& out) {
  out << "pqlab " << version() << ": post-training quantization experiments for diffusion transformers\n\n"
      << "usage: pqlab <command> [options]   (pqlab <command> --help for details)\n\ncommands:\n";
  for (const auto& c : kCommands) out << "  " << c.name << std::string(std::max<size_t>(2, 18 - std::string(c.name).size()), ' ') << c.help << '\n';
  out << "\noptions:\n  --help        this text\n  --version     version and git commit\n"
      << "\nexit codes: 0 ok, 2 usage or config error, 1 runtime failure\n";
}

}  // namespace

int run_cli(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  if (argv.size() < 2) {
    print_help(err);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_help(out);
    return 0;
  }
  if (name == "--version") {
    out << "pqlab " << version() << " (commit " << git_commit() << ")\n";
    return 0;
  }
  const Command* cmd = nullptr;
  std::vector<std::string> names;
  for (const auto& c : kCommands) {
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
  try {
    Registries registries;
    register_builtin_plugins(registries);
    CommandContext ctx{std::vector<std::string>(argv.begin() + 2, argv.end()), registries, out, err};
    return cmd->fn(ctx);
  } catch (const ConfigError& e) {
    err << e.what();
    return e.exit_code();
  } catch (const Error& e) {
    err << "pqlab " << name << ": error: " << e.what() << '\n';
    return e.exit_code();
  } catch (const boost::program_options::error& e) {
    err << "pqlab " << name << ": error: " << e.what() << "\nusage: pqlab " << cmd->synopsis << '\n';
    return 2;
  } catch (const std::exception& e) {
    // libtorch and the standard library report failures as plain exceptions: runtime failures.
    err << "pqlab " << name << ": error: " << e.what() << '\n';
    return 1;
  }
}

}  // namespace pqlab::cli
