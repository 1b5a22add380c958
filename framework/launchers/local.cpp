// local: runs a sweep's tasks on this machine, `workers` at a time, each as a child process
// `pqlab run --task <dir>` with its output appended to <dir>/log, and shows one progress line
// for the whole sweep (complete / running / failed, elapsed, ETA from the mean task time so far).
// A task's process that dies (killed, out of memory) is recorded as failed with 128 + signal.
// Ctrl-C reaches the workers too (same process group): each removes its partial result.
// Tests: tests/framework/launchers/local_test.sh (12 tasks end to end, a killed task resumed)
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <map>
#include <ostream>
#include <sstream>
#include <thread>
#include <fstream>

#include "framework/config/config_io.h"
#include "framework/core/error.h"
#include "framework/core/host.h"
#include "framework/core/paths.h"
#include "framework/core/subprocess.h"
#include "framework/registry/registries.h"
#include "framework/sweep/sweep_files.h"
#include "framework/sweep/sweep_plan.h"

namespace pqlab::launchers {
namespace {

struct LocalConfig {
  int64_t workers = 0;
  std::vector<std::string> devices;
  template <class IO> static void map(IO& io, LocalConfig& c) {
    io.field("workers", c.workers,
             "tasks run at once; 0 = one per CPU core (set the experiment's `threads` so that workers x threads "
             "fits the machine; GPU runs: one per GPU)",
             config::in_range(0, 4096));
    io.field("devices", c.devices,
             "CUDA_VISIBLE_DEVICES of each worker, cycled (e.g. [0, 1, 2, 3] with 4 workers: one GPU each); "
             "empty = inherit");
  }
};

std::string clock_text(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const long t = std::lround(s);
  std::ostringstream o;
  if (t >= 3600) o << t / 3600 << ":" << (t % 3600 / 60 < 10 ? "0" : "") << t % 3600 / 60;
  else o << t / 60;
  o << ":" << (t % 60 < 10 ? "0" : "") << t % 60;
  return o.str();
}

class Local final : public ConfiguredPlugin<Launcher, LocalConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;

  // The sweep command holds the sweep's lock while this launcher runs, so no task of it can be
  // running under another local launcher; a "running" status of a live process is reported by
  // the sweep command itself.
  std::set<int64_t> in_flight(const SweepPlan&) const override { return {}; }

  int64_t worker_count() const {
    return cfg_.workers > 0 ? cfg_.workers : std::max<int64_t>(1, static_cast<int64_t>(std::thread::hardware_concurrency()));
  }

  std::string preview(const LaunchRequest& rq) const override {
    std::string devices;
    for (const std::string& d : cfg_.devices) devices += (devices.empty() ? "" : ", ") + d;
    return "would run " + std::to_string(rq.tasks.size()) + " task(s) with " + std::to_string(worker_count()) +
           " local worker(s)" + (devices.empty() ? "" : " (CUDA_VISIBLE_DEVICES cycled over " + devices + ")") +
           ", each as: " + rq.pqlab + " run --task <task folder>\n";
  }

  LaunchResult launch(const LaunchRequest& rq) override {
    using Clock = std::chrono::steady_clock;
    const SweepPlan& plan = *rq.plan;
    const int64_t workers = worker_count();
    std::vector<int64_t> queue(rq.tasks.rbegin(), rq.tasks.rend());
    struct Running {
      int64_t task;
      size_t slot;
      Clock::time_point start;
    };
    std::map<long, Running> running;
    std::vector<bool> slot_busy(static_cast<size_t>(workers), false);
    int64_t done = 0, failed = 0;
    bool changed = true;
    double task_seconds = 0;
    const auto t0 = Clock::now();
    auto last_print = t0 - std::chrono::hours(1);
    const size_t total = rq.tasks.size();
    auto show = [&](bool force) {
      if (!rq.progress) return;
      const auto now = Clock::now();
      const double since = std::chrono::duration<double>(now - last_print).count();
      if (!force && since < (rq.terminal ? 0.5 : 30.0)) return;
      last_print = now;
      const double elapsed = std::chrono::duration<double>(now - t0).count();
      const int64_t finished = done + failed;
      const double eta = finished > 0 ? task_seconds / static_cast<double>(finished) *
                                            std::ceil(static_cast<double>(total - static_cast<size_t>(finished)) /
                                                      static_cast<double>(workers))
                                      : NAN;
      std::ostringstream line;
      line << "sweep " << plan.id << ": " << done << "/" << total << " complete, " << running.size() << " running";
      if (failed) line << ", " << failed << " failed";
      line << " | " << clock_text(elapsed) << " elapsed, ETA " << (finished == static_cast<int64_t>(total) ? "0:00" : clock_text(eta));
      if (rq.terminal) *rq.progress << "\r\033[K" << line.str() << std::flush;
      else *rq.progress << line.str() << '\n' << std::flush;
    };
    while (!queue.empty() || !running.empty()) {
      while (!queue.empty() && running.size() < static_cast<size_t>(workers)) {
        const int64_t t = queue.back();
        queue.pop_back();
        const size_t slot = static_cast<size_t>(std::find(slot_busy.begin(), slot_busy.end(), false) - slot_busy.begin());
        const SweepTask& task = plan.tasks.at(static_cast<size_t>(t));
        const std::string dir = plan.task_dir(task);
        const std::string log = path_join(dir, "log");
        {
          std::ofstream(log, std::ios::app) << "=== pqlab run --task " << dir << " at " << now_iso8601() << " on "
                                            << host_name() << " (local worker " << slot << ")\n";
        }
        std::vector<std::pair<std::string, std::string>> env;
        if (!cfg_.devices.empty()) env.emplace_back("CUDA_VISIBLE_DEVICES", cfg_.devices[slot % cfg_.devices.size()]);
        const long pid = spawn_logged({rq.pqlab, "run", "--task", dir}, rq.workdir, log, env);
        slot_busy[slot] = true;
        running[pid] = {t, slot, Clock::now()};
      }
      if (changed) show(true);  // after refilling, so the line counts the new task as running
      changed = false;
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid == 0 || (pid < 0 && errno == EINTR)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        show(false);
        continue;
      }
      if (pid < 0) throw RuntimeError("waitpid failed while running the sweep's tasks");
      const auto it = running.find(pid);
      if (it == running.end()) continue;  // not one of ours
      const Running r = it->second;
      running.erase(it);
      slot_busy[r.slot] = false;
      task_seconds += std::chrono::duration<double>(Clock::now() - r.start).count();
      const std::string dir = plan.task_dir(plan.tasks.at(static_cast<size_t>(r.task)));
      const int code = exit_code_of(status);
      // A task that died without saying so (signal, exec failure) still reads "running".
      if (code != 0 && read_task_status(dir, plan.result_file).state != TaskState::failed)
        write_task_status(dir, status_failed(code));
      if (code == 0) ++done;
      else ++failed;
      changed = true;
    }
    if (changed) show(true);
    if (rq.progress && rq.terminal) *rq.progress << '\n';
    LaunchResult res;
    res.summary = "ran " + std::to_string(total) + " task(s) with " + std::to_string(workers) + " local worker(s)";
    return res;
  }
};

}  // namespace
}  // namespace pqlab::launchers

PQLAB_PLUGIN(launcher, local, pqlab::launchers::Local,
             "run tasks as child processes on this machine, N at a time, with a progress line and ETA")
