// `pqlab run` and `pqlab validate`.
#include <unistd.h>

#include <ostream>

#include "framework/cli/cli.h"
#include "framework/cli/options.h"
#include "framework/experiment/experiment_spec.h"
#include "framework/experiment/runner.h"

namespace pqlab::cli {
namespace {

struct ExperimentArgs {
  std::string path, out;
  std::vector<std::string> sets;
  bool print_config = false;
  bool quiet = false;
};

bool parse_experiment_args(CommandContext& c, bool with_out, ExperimentArgs& a) {
  po::options_description desc("options");
  desc.add_options()
      ("help,h", "this text")
      ("experiment", po::value(&a.path)->required(), "experiment YAML file")
      ("set", po::value(&a.sets)->composing(), "override a config value: key.path=value (repeatable)")
      ("print-config", po::bool_switch(&a.print_config), "print the fully resolved config");
  if (with_out)
    desc.add_options()("out", po::value(&a.out), "output folder (overrides output.dir)")(
        "quiet,q", po::bool_switch(&a.quiet), "no progress on stderr");
  po::positional_options_description pos;
  pos.add("experiment", 1);
  po::variables_map vm;
  return parse_options(c.args, desc, pos, vm, c.synopsis, c.out);
}

}  // namespace

int command_run(CommandContext& c) {
  ExperimentArgs a;
  if (!parse_experiment_args(c, true, a)) return 0;
  ExperimentSpec spec = load_experiment(a.path, a.sets, c.registries);
  if (a.print_config) c.out << spec.resolved_yaml;
  RunOptions opts;
  opts.out_dir = a.out;
  if (!a.quiet) {
    opts.progress = &c.err;
    opts.progress_terminal = ::isatty(STDERR_FILENO) == 1;
  }
  opts.diagnostics = &c.err;
  const RunSummary s = run_experiment(spec, opts);
  c.out << "experiment " << spec.name << " (model " << spec.model.name << ", " << spec.model->describe() << ")\n"
        << format_summary_table(s) << "result: " << s.result_path << '\n';
  if (!s.images_dir.empty()) c.out << "images: " << s.images_dir << "/<variant>.png\n";
  return 0;
}

int command_validate(CommandContext& c) {
  ExperimentArgs a;
  if (!parse_experiment_args(c, false, a)) return 0;
  ExperimentSpec spec = load_experiment(a.path, a.sets, c.registries);
  if (a.print_config) c.out << spec.resolved_yaml;
  c.out << a.path << ": ok: experiment '" << spec.name << "', model " << spec.model.name << ", "
        << spec.variants.size() << " variant(s), " << spec.metrics.size() << " metric(s)\n";
  return 0;
}

}  // namespace pqlab::cli
