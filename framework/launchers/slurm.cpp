// slurm: submits a sweep's tasks as one Slurm job array, `sbatch --array=<indices>%<max_parallel>`;
// array task i runs `pqlab run --task <dir of task i>` (array indices are task indices, so a
// resubmission of failed tasks keeps their numbers). The batch script is written to
// <sweep>/slurm/array.sh and kept; Slurm's own output goes to <sweep>/slurm/<job>_<index>.out,
// the task's to <task>/log. A task that cannot say so itself (killed by a signal: out of memory,
// `scancel`, the time limit; or never started: no pqlab on the node) is recorded as failed by the
// script, so that a waiting sweep lists it and the next one resubmits it.
// Tasks in flight are found with `squeue --name=<job name> -r`, keeping only the jobs this sweep
// submitted (<sweep>/slurm/jobs): without accounting (sacct) the queue is the one record every
// Slurm installation has, pending or running tasks must not be submitted a second time when the
// sweep is resumed, and the same sweep id in another folder (a second clone, the default id being
// a hash of the config) gives the same job name.
// Tests: tests/framework/launchers/slurm_test.sh (a real single-node cluster, scripts/local_slurm.sh)
#include <algorithm>
#include <chrono>
#include <fstream>
#include <ostream>
#include <set>
#include <sstream>
#include <thread>

#include "framework/config/config_io.h"
#include "framework/core/error.h"
#include "framework/core/paths.h"
#include "framework/core/subprocess.h"
#include "framework/registry/registries.h"
#include "framework/sweep/sweep_files.h"
#include "framework/sweep/sweep_plan.h"

namespace pqlab::launchers {
namespace {

struct SlurmConfig {
  std::string partition, time, mem, job_name, account;
  int64_t gpus = 0, cpus_per_task = 0, max_parallel = 0;
  std::vector<std::string> extra;
  bool wait = false;
  double poll_seconds = 1.0;
  template <class IO> static void map(IO& io, SlurmConfig& c) {
    io.field("partition", c.partition, "sbatch --partition (empty: the cluster's default)");
    io.field("account", c.account, "sbatch --account (empty: none)");
    io.field("time", c.time, "sbatch --time per task, e.g. 02:00:00 (empty: the partition's default)");
    io.field("mem", c.mem, "sbatch --mem per task, e.g. 64G (empty: the default)");
    io.field("gpus", c.gpus, "sbatch --gpus per task (0: none)", config::in_range(0, 1024));
    io.field("cpus_per_task", c.cpus_per_task, "sbatch --cpus-per-task (0: the default)", config::in_range(0, 4096));
    io.field("max_parallel", c.max_parallel, "array throttle %N: tasks running at once (0: no limit)",
             config::in_range(0, 1e6));
    io.field("job_name", c.job_name, "sbatch --job-name (empty: pqlab-<experiment>-<sweep id>)");
    io.field("extra", c.extra, "extra lines for the batch script, e.g. ['#SBATCH --qos=high', 'module load cuda']");
    io.field("wait", c.wait,
             "wait until every submitted task has ended, showing progress (else return after submitting; run "
             "the same `pqlab sweep` again for the status and to resubmit failed tasks)");
    io.field("poll_seconds", c.poll_seconds, "squeue polling interval while waiting", config::in_range(0.05, 3600));
  }
};

// A word for bash, single-quoted.
std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char ch : s) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return q + "'";
}

// A command's output for a message: without its final newline(s).
std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// "0-3,5,7-9" from ascending indices.
std::string ranges(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size();) {
    size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    s += (s.empty() ? "" : ",") + std::to_string(v[i]) + (j > i ? "-" + std::to_string(v[j]) : "");
    i = j + 1;
  }
  return s;
}

class Slurm final : public ConfiguredPlugin<Launcher, SlurmConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;

  std::set<int64_t> in_flight(const SweepPlan& plan) const override {
    const std::set<std::string> jobs = submitted_jobs(plan);
    if (jobs.empty() || !program_exists("squeue")) return {};
    const CommandOutput o = run_command({"squeue", "-h", "-r", "--name=" + job_name(plan), "-o", "%F %K %T"});
    if (o.exit_code != 0) throw RuntimeError("squeue failed (exit " + std::to_string(o.exit_code) + "): " + trimmed(o.output));
    std::set<int64_t> busy;
    std::istringstream in(o.output);
    // Line by line: the output holds stderr too, and a warning line must not shift the fields.
    for (std::string line; std::getline(in, line);) {
      std::istringstream fields(line);
      std::string job, index, state, more;
      if (!(fields >> job >> index >> state) || fields >> more || !jobs.count(job)) continue;
      if (state == "COMPLETED" || state == "FAILED" || state == "CANCELLED" || state == "TIMEOUT" ||
          state == "OUT_OF_MEMORY" || state == "NODE_FAIL" || state == "PREEMPTED" || state == "BOOT_FAIL" ||
          state == "DEADLINE")
        continue;
      char* end = nullptr;
      const long i = std::strtol(index.c_str(), &end, 10);
      if (end != index.c_str() && *end == 0) busy.insert(i);
    }
    return busy;
  }

  bool tracks_all_tasks() const override { return true; }

  LaunchResult launch(const LaunchRequest& rq) override {
    const SweepPlan& plan = *rq.plan;
    if (!program_exists("sbatch"))
      throw RuntimeError("launcher slurm: sbatch not found in PATH (on one machine, scripts/local_slurm.sh start "
                         "gives a single-node cluster)");
    const std::string dir = path_join(plan.root, "slurm");
    create_directories(dir);
    const std::string script = path_join(dir, "array.sh");
    {
      std::ofstream f(script, std::ios::trunc);
      f << script_text(plan, rq);
      if (!f) throw RuntimeError("cannot write '" + script + "'");
    }
    const CommandOutput o = run_command(sbatch_argv(rq, script));
    // --parsable prints "<id>" or "<id>;<cluster>" on stdout, but the output holds stderr too,
    // where sites' submit plugins and sbatch itself print notes and warnings: take the last line
    // that is a job id.
    std::string job;
    {
      std::istringstream in(o.output);
      for (std::string line; std::getline(in, line);) {
        line = line.substr(0, line.find(';'));
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (!line.empty() && line.find_first_not_of("0123456789") == std::string::npos) job = line;
      }
    }
    if (o.exit_code != 0 || job.empty())
      throw RuntimeError("sbatch refused the job array (exit " + std::to_string(o.exit_code) + "): " + trimmed(o.output));
    std::ofstream(path_join(dir, "jobs"), std::ios::app) << job << " " << ranges(rq.tasks) << "\n";
    LaunchResult res;
    res.summary = "submitted Slurm job " + job + ", array " + ranges(rq.tasks) +
                  (cfg_.max_parallel > 0 ? "%" + std::to_string(cfg_.max_parallel) : "") + " (script " + script + ")";
    if (rq.progress) *rq.progress << res.summary << '\n';
    res.finished = !cfg_.wait ? false : wait_for(plan, rq);
    return res;
  }

  std::string preview(const LaunchRequest& rq) const override {
    const std::string script = path_join(path_join(rq.plan->root, "slurm"), "array.sh");
    std::string cmd;
    for (const std::string& a : sbatch_argv(rq, script)) cmd += (cmd.empty() ? "" : " ") + a;
    return "would submit: " + cmd + "\nwith " + script + ":\n" + script_text(*rq.plan, rq);
  }

 private:
  std::string job_name(const SweepPlan& plan) const {
    return cfg_.job_name.empty() ? "pqlab-" + plan.experiment + "-" + plan.id : cfg_.job_name;
  }

  // The job ids launch() recorded in <sweep>/slurm/jobs ("<id> <indices>" per submission).
  static std::set<std::string> submitted_jobs(const SweepPlan& plan) {
    std::set<std::string> ids;
    std::ifstream f(path_join(path_join(plan.root, "slurm"), "jobs"));
    for (std::string line; std::getline(f, line);) {
      std::istringstream in(line);
      std::string id;
      if (in >> id) ids.insert(id);
    }
    return ids;
  }

  std::vector<std::string> sbatch_argv(const LaunchRequest& rq, const std::string& script) const {
    return {"sbatch", "--parsable",
            "--array=" + ranges(rq.tasks) + (cfg_.max_parallel > 0 ? "%" + std::to_string(cfg_.max_parallel) : ""), script};
  }

  // Paths in the script are absolute: Slurm resolves a relative --output against the job's working
  // directory, which an `extra` line (#SBATCH --chdir) may change, and the failure of a task whose
  // `cd` into the sweep's working directory failed must still be recorded in its folder.
  std::string script_text(const SweepPlan& plan, const LaunchRequest& rq) const {
    std::ostringstream s;
    s << "#!/bin/bash\n# Written by `pqlab sweep` (launcher slurm) for sweep " << plan.id << " of " << plan.source
      << ".\n#SBATCH --job-name=" << job_name(plan)
      << "\n#SBATCH --output=" << path_join(path_join(rq.workdir, plan.root), "slurm") << "/%A_%a.out\n";
    if (!cfg_.partition.empty()) s << "#SBATCH --partition=" << cfg_.partition << "\n";
    if (!cfg_.account.empty()) s << "#SBATCH --account=" << cfg_.account << "\n";
    if (!cfg_.time.empty()) s << "#SBATCH --time=" << cfg_.time << "\n";
    if (!cfg_.mem.empty()) s << "#SBATCH --mem=" << cfg_.mem << "\n";
    if (cfg_.gpus > 0) s << "#SBATCH --gpus=" << cfg_.gpus << "\n";
    if (cfg_.cpus_per_task > 0) s << "#SBATCH --cpus-per-task=" << cfg_.cpus_per_task << "\n";
    for (const std::string& line : cfg_.extra) s << line << "\n";
    s << "set -u\ntasks=(\n";
    for (const SweepTask& t : plan.tasks) s << "  " << quoted(path_join(rq.workdir, plan.task_dir(t))) << "\n";
    s << ")\ndir=${tasks[$SLURM_ARRAY_TASK_ID]}\n"
      << "# scancel, the time limit and preemption send SIGTERM to every process of the job. With a\n"
         "# handler (not an ignored signal, which pqlab would inherit) bash outlives it: it waits for\n"
         "# `pqlab run`, which removes its partial result and exits 143, and records the failure below.\n"
      << "trap 'echo \"=== SIGTERM from Slurm (scancel, time limit or preemption)\" >> \"$dir/log\"' TERM\n"
      << "echo \"=== pqlab run --task $dir at $(date -u +%FT%TZ) on $(hostname), Slurm job "
         "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}, restart ${SLURM_RESTART_COUNT:-0}\" >> \"$dir/log\"\n"
      << "cd " << quoted(rq.workdir) << " && " << quoted(rq.pqlab) << " run --task \"$dir\" >> \"$dir/log\" 2>&1\n"
      << "rc=$?\n"
      << "# A task that cannot say so itself (killed by a signal, or never started: no working\n"
         "# directory, no pqlab on this node) is recorded here; a failure pqlab recorded stays as it is.\n"
      << "if [ $rc -ne 0 ] && ! grep -q '^failed' \"$dir/status\" 2>/dev/null; then\n"
      << "  printf 'failed %d %s\\n' $rc \"$(date -u +%FT%TZ)\" > \"$dir/status.tmp.$$\" && mv -f "
         "\"$dir/status.tmp.$$\" \"$dir/status\"\nfi\nexit $rc\n";
    return s.str();
  }

  // Polls the queue until none of this sweep's tasks is pending or running. Returns true.
  // A failing squeue is retried for up to 10 minutes: a busy or restarting slurmctld times out
  // now and then ("Socket timed out on send/recv"), and the tasks run on regardless; giving up at
  // the first error would end a wait of hours for nothing.
  bool wait_for(const SweepPlan& plan, const LaunchRequest& rq) const {
    const auto t0 = std::chrono::steady_clock::now();
    double last = -1e9, failing_since = -1;
    for (;;) {
      std::set<int64_t> busy;
      double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      try {
        busy = in_flight(plan);
        failing_since = -1;
      } catch (const RuntimeError& e) {
        if (failing_since < 0) failing_since = elapsed;
        if (elapsed - failing_since > 600) throw;
        if (rq.progress) *rq.progress << (rq.terminal ? "\r\033[K" : "") << "pqlab: note: " << e.what() << "; retrying\n";
        std::this_thread::sleep_for(std::chrono::duration<double>(std::max(cfg_.poll_seconds, 5.0)));
        continue;
      }
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (rq.progress && (busy.empty() || elapsed - last >= (rq.terminal ? 1.0 : 30.0))) {
        last = elapsed;
        int64_t complete = 0, failed = 0;
        for (int64_t t : rq.tasks) {
          const TaskState st = read_task_status(plan.task_dir(plan.tasks.at(static_cast<size_t>(t))), plan.result_file).state;
          complete += st == TaskState::complete;
          failed += st == TaskState::failed;
        }
        std::ostringstream line;
        line << "sweep " << plan.id << ": " << complete << "/" << rq.tasks.size() << " complete, " << busy.size()
             << " queued or running" << (failed ? ", " + std::to_string(failed) + " failed" : "") << " | "
             << static_cast<long>(elapsed) << " s";
        if (rq.terminal) *rq.progress << "\r\033[K" << line.str() << (busy.empty() ? "\n" : "") << std::flush;
        else *rq.progress << line.str() << '\n' << std::flush;
      }
      if (busy.empty()) return true;
      std::this_thread::sleep_for(std::chrono::duration<double>(cfg_.poll_seconds));
    }
  }
};

}  // namespace
}  // namespace pqlab::launchers

PQLAB_PLUGIN(launcher, slurm, pqlab::launchers::Slurm,
             "submit tasks as one Slurm job array (sbatch --array), resubmitting only missing or failed ones")
