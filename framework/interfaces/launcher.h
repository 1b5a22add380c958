// How a sweep's tasks run: a launcher starts `pqlab run --task <dir>` for each task it is given,
// on this machine (local) or through a cluster scheduler (slurm). Launchers know nothing of
// experiments: a task is a folder with a config (framework/sweep/sweep_plan.h). Resume logic
// (which tasks are complete, failed or missing) is the sweep command's; a launcher only says
// which tasks it still has in flight, so they are not started twice.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <set>
#include <string>
#include <vector>

namespace pqlab {
namespace config { class ConfigIo; }
struct SweepPlan;

struct LaunchRequest {
  const SweepPlan* plan = nullptr;
  std::vector<int64_t> tasks;  ///< task indices to run, ascending
  std::string pqlab;           ///< absolute path of the pqlab binary the tasks run
  std::string workdir;         ///< absolute working directory of the tasks (relative config paths)
  std::ostream* progress = nullptr;  ///< sweep progress (null = quiet)
  bool terminal = false;             ///< progress may redraw one line in place
};

struct LaunchResult {
  bool finished = true;  ///< the tasks have ended (false: submitted and still queued or running)
  std::string summary;   ///< one line for the user ("submitted Slurm job 42, array 0-11%4")
};

class Launcher {
 public:
  virtual ~Launcher() = default;
  virtual void map_config(config::ConfigIo& io) = 0;
  /// Task indices of `plan` this launcher still has queued or running (not to be started again).
  virtual std::set<int64_t> in_flight(const SweepPlan& plan) const = 0;
  /// Whether in_flight() sees every task of the sweep wherever it runs (a scheduler's queue), so
  /// that a task whose status says "running" but is not in flight was lost (its node died).
  /// False: a "running" task of another host may be alive and is left alone.
  virtual bool tracks_all_tasks() const { return false; }
  /// Runs or submits the tasks. RuntimeError when it cannot (no sbatch, submission refused).
  virtual LaunchResult launch(const LaunchRequest& request) = 0;
  /// What launch(request) would do, as text for `pqlab sweep --dry-run` (for slurm: the sbatch
  /// command and the whole batch script), without writing or submitting anything.
  virtual std::string preview(const LaunchRequest& request) const = 0;
};

}  // namespace pqlab
