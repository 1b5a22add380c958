// A sweep: one experiment file expanded into many fully resolved runs ("tasks"). Axes come from
// the file's `sweep:` block and from the command line (`pqlab sweep --grid key=a,b --zip ...`):
// grid axes combine as a cartesian product (the first axis varies slowest), zip axes pair their
// values element by element (all zip axes have one length) and vary fastest. Each task is the
// base config with one value per axis applied as a `--set` would be, loaded and validated like
// any experiment, and named by a stable hash of its resolved YAML.
//
// Layout on disk (framework/sweep/sweep_files.h): <dir>/<experiment>/<sweep id>/ holds
// manifest.json, calibration/ (the shared calibration cache) and one folder per task,
// <index>-<hash>/, with config.yaml, log, status and the result <experiment>.h5.
// Tests: tests/framework/sweep/sweep_plan_test.cpp
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "framework/interfaces/launcher.h"
#include "framework/registry/registries.h"

namespace pqlab {

struct SweepAxis {
  std::string key;                  ///< dotted config path, sequence elements by index: variants.0.method.tau
  std::string name;                 ///< short display name, unique among the axes (the key's last part(s))
  bool zip = false;                 ///< paired axis (else grid)
  std::vector<std::string> values;  ///< each value as flow YAML text ("16", "identity", "[0, 6]")
  std::string where;                ///< "file:line:col" or "--grid" for messages
};

struct SweepTask {
  int64_t index = 0;
  std::string hash;                 ///< 10 hex digits of the resolved config
  std::string dir;                  ///< "<index>-<hash>", relative to the sweep root
  std::vector<std::string> values;  ///< one per axis, in axis order
  std::string resolved_yaml;        ///< the task's whole config (`pqlab run` on it alone reproduces it)
};

/// The typed part of the `sweep:` block (the axes, `grid:` and `zip:`, are read from the tree).
struct SweepSettings {
  std::string id;          ///< sweep folder name; empty = "s" + hash of the base config and the axes
  std::string dir = "runs";
  Plugin<Launcher> launcher;
  template <class IO> static void map(IO& io, SweepSettings& c) {
    io.field("id", c.id,
             "name of this sweep's folder under <dir>/<experiment>/; default: a hash of the base config and the "
             "axes, so running the same sweep again finds (and resumes) the same folder");
    io.field("dir", c.dir, "root folder of all sweeps (relative to the working directory)");
    config::plugin_field(io, "launcher", c.launcher, "how tasks run: local (workers on this machine) or slurm");
  }
};

struct SweepRequest {
  std::string path;                ///< experiment YAML
  /// --set overrides of the base config; `sweep.launcher=slurm`, `sweep.launcher.workers=4` set
  /// the launcher (they are not part of any task's config, nor of the default sweep id).
  std::vector<std::string> sets;
  std::vector<std::string> grid;   ///< --grid key=a,b,c
  std::vector<std::string> zip;    ///< --zip key=a,b,c
  std::string id;                  ///< --id (overrides sweep.id)
};

struct SweepPlan {
  std::string experiment;   ///< the experiment's name (every task shares it)
  std::string source;       ///< the YAML file
  std::string id;
  std::string root;         ///< <dir>/<experiment>/<id>
  std::string result_file;  ///< "<experiment>.h5", inside each task folder
  std::vector<SweepAxis> axes;
  std::vector<SweepTask> tasks;
  Plugin<Launcher> launcher;
  std::string launcher_yaml;  ///< the launcher's resolved config

  std::string task_dir(const SweepTask& t) const;  ///< root/<index>-<hash>
};

/// Expands the request. ConfigError (exit 2) with located messages for a bad sweep block, an
/// axis without values, zip axes of different lengths, or a task whose config is invalid (the
/// message names the axis values that made it).
SweepPlan plan_sweep(const SweepRequest& request, const Registries& registries);

/// "key=a,b,[c, d]" -> key and the values' flow texts (commas inside [] or {} do not split).
/// UsageError on a missing '=' or an empty value list.
std::pair<std::string, std::vector<std::string>> parse_axis_argument(const std::string& arg);

}  // namespace pqlab
