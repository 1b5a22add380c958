// The files of a sweep on disk (layout in sweep_plan.h) and the state of each task, read from its
// folder alone so that any process on any node (the sweep command, a Slurm array task, `pqlab
// report`) judges it the same way:
//   complete     <task>/<experiment>.h5 exists: results are renamed into place only when whole
//   failed       <task>/status says "failed <exit code>"
//   running      <task>/status says "running <host> <pid> ..." and that process may still exist
//   interrupted  "running" on this host, but the process is gone (SIGKILL, OOM killer, a crash)
//   pending      never started
// Tests: tests/framework/sweep/sweep_files_test.cpp
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "framework/sweep/sweep_plan.h"

namespace pqlab {

inline constexpr int64_t kManifestFormat = 1;

/// Creates the sweep root and every task folder with its config.yaml, and writes
/// <root>/manifest.json (format in docs/sweeps.md). workdir: where tasks resolve relative paths.
/// Files already holding the same text are left untouched (tasks may be running).
void write_sweep_files(const SweepPlan& plan, const std::string& workdir);

/// What a reader of manifest.json needs, read back by the one module that writes it.
struct SweepManifest {
  struct Axis {
    std::string key, name;  ///< config key; its short name (column and plot label)
  };
  struct Task {
    int64_t index = 0;
    std::string dir, result;                    ///< folder under the root; result file name
    std::map<std::string, std::string> values;  ///< axis key -> value (YAML flow text)
  };
  std::string workdir;  ///< empty in manifests that do not record it
  std::vector<Axis> axes;
  std::vector<Task> tasks;
};

/// Reads <root>/manifest.json. UsageError naming the file where it cannot be read, has another
/// format_version, or is not a manifest.
SweepManifest read_sweep_manifest(const std::string& root);

/// The working directory recorded in the manifest of the sweep that holds `task_dir`.
std::string sweep_workdir_of_task(const std::string& task_dir);

enum class TaskState { pending, running, interrupted, failed, complete };
const char* task_state_name(TaskState s);

struct TaskStatus {
  TaskState state = TaskState::pending;
  int exit_code = 0;   ///< for failed
  std::string detail;  ///< the status line
};

/// The state of the task in `task_dir` whose result is `result_file`.
TaskStatus read_task_status(const std::string& task_dir, const std::string& result_file);

/// Replaces <task_dir>/status with `line` atomically (a reader sees the old or the new line).
void write_task_status(const std::string& task_dir, const std::string& line);

/// The status lines: "running <host> <pid> <time>", "done <time>", "failed <code> <time>".
std::string status_running();
std::string status_done();
std::string status_failed(int exit_code);

}  // namespace pqlab
