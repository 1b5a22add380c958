// `pqlab run` and `pqlab validate`.
#include <unistd.h>

#include <ostream>

#include "framework/cli/cli.h"
#include "framework/cli/options.h"
#include "framework/experiment/experiment_spec.h"
#include "framework/experiment/runner.h"
#include "framework/core/error.h"
#include "framework/core/paths.h"
#include "framework/sweep/sweep_files.h"

namespace pqlab::cli {
namespace {

struct ExperimentArgs {
  std::string path, out, task;
  std::vector<std::string> sets;
  bool print_config = false;
  bool quiet = false;
};

bool parse_experiment_args(CommandContext& c, bool with_out, ExperimentArgs& a) {
  po::options_description desc("options");
  desc.add_options()
      ("help,h", "this text")
      ("experiment", po::value(&a.path), "experiment YAML file")
      ("set", po::value(&a.sets)->composing(), "override a config value: key.path=value (repeatable)")
      ("print-config", po::bool_switch(&a.print_config), "print the fully resolved config");
  if (with_out)
    desc.add_options()("out", po::value(&a.out), "output folder (overrides output.dir)")(
        "quiet,q", po::bool_switch(&a.quiet), "no progress on stderr")(
        "task", po::value(&a.task),
        "run one task of a sweep: its folder (config.yaml, result, status; what `pqlab sweep` launchers run)");
  po::positional_options_description pos;
  pos.add("experiment", 1);
  po::variables_map vm;
  if (!parse_options(c.args, desc, pos, vm, c.synopsis, c.out)) return false;
  if (a.task.empty() == a.path.empty())
    throw UsageError(a.task.empty() ? "missing the experiment file (usage: pqlab " + c.synopsis + ")"
                                    : "--task runs the task's own config.yaml: give no experiment file with it");
  if (!a.task.empty() && (!a.sets.empty() || !a.out.empty()))
    throw UsageError("--task runs the task exactly as the sweep wrote it: no --set or --out with it");
  return true;
}

// A sweep task (framework/sweep/sweep_files.h): the config and the result live in its folder,
// relative data paths resolve against the sweep's working directory, the calibration cache is
// the sweep's, and <dir>/status says running / done / failed <exit code>.
int run_task(CommandContext& c, const ExperimentArgs& a) {
  const std::string dir = path_canonical(a.task);
  const std::string workdir = sweep_workdir_of_task(dir);
  if (::chdir(workdir.c_str()) != 0) throw RuntimeError("cannot enter the sweep's working directory '" + workdir + "'");
  write_task_status(dir, status_running());
  try {
    ExperimentSpec spec = load_experiment(path_join(dir, "config.yaml"), {}, c.registries);
    RunOptions opts;
    opts.out_dir = dir;
    opts.calibration_cache_dir = path_join(path_parent(dir), "calibration");
    if (!a.quiet) opts.progress = &c.err;
    opts.diagnostics = &c.err;
    const RunSummary s = run_experiment(spec, opts);
    c.out << format_summary_table(s) << "result: " << s.result_path << '\n';
    write_task_status(dir, status_done());
  } catch (const Error& e) {
    write_task_status(dir, status_failed(e.exit_code()));
    throw;
  } catch (const std::exception&) {
    write_task_status(dir, status_failed(1));
    throw;
  }
  return 0;
}

}  // namespace

int command_run(CommandContext& c) {
  ExperimentArgs a;
  if (!parse_experiment_args(c, true, a)) return 0;
  if (!a.task.empty()) return run_task(c, a);
  ExperimentSpec spec = load_experiment(a.path, a.sets, c.registries);
  if (a.print_config) c.out << spec.resolved_yaml;
  if (spec.has_sweep)
    c.err << "pqlab: note: " << a.path << " has a sweep: block; `pqlab run` runs its base config once "
          << "(`pqlab sweep` runs the sweep)\n";
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
