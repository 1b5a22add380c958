// `pqlab sweep`: expands an experiment's sweep into tasks, writes the sweep folder, and hands the
// tasks that still need running to the launcher. Running it again resumes: complete tasks are
// skipped, tasks the launcher still has queued are left alone, failed, interrupted and missing
// ones run again; failures are listed with their logs.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <iomanip>
#include <ostream>

#include "framework/cli/cli.h"
#include "framework/cli/options.h"
#include "framework/core/error.h"
#include "framework/core/paths.h"
#include "framework/sweep/sweep_files.h"
#include "framework/sweep/sweep_plan.h"

namespace pqlab::cli {
namespace {

std::string self_executable() {
  char buf[PATH_MAX + 1] = {0};
  const ssize_t n = ::readlink("/proc/self/exe", buf, PATH_MAX);
  if (n <= 0) throw RuntimeError("cannot find the pqlab binary (/proc/self/exe)");
  return std::string(buf, static_cast<size_t>(n));
}

std::string current_directory() {
  char buf[PATH_MAX + 1] = {0};
  if (!::getcwd(buf, PATH_MAX)) throw RuntimeError("cannot read the working directory");
  return buf;
}

// Only one `pqlab sweep` drives a sweep at a time; the lock goes with the process.
int lock_sweep(const std::string& root) {
  const std::string path = path_join(root, "lock");
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw RuntimeError("cannot open '" + path + "': " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0)
    throw RuntimeError("another `pqlab sweep` is running sweep '" + root + "' (it holds " + path +
                       "); wait for it, or stop it first");
  return fd;
}

void print_tasks(std::ostream& out, const SweepPlan& plan, const std::vector<TaskStatus>* status) {
  std::vector<size_t> width;
  for (const SweepAxis& a : plan.axes) {
    size_t w = a.name.size();
    for (const std::string& v : a.values) w = std::max(w, v.size());
    width.push_back(w);
  }
  size_t dir_w = 4;
  for (const SweepTask& t : plan.tasks) dir_w = std::max(dir_w, t.dir.size());
  out << std::left << std::setw(static_cast<int>(dir_w) + 2) << "task";
  for (size_t a = 0; a < plan.axes.size(); ++a) out << std::setw(static_cast<int>(width[a]) + 2) << plan.axes[a].name;
  out << (status ? "state" : "") << "\n";
  for (const SweepTask& t : plan.tasks) {
    out << std::setw(static_cast<int>(dir_w) + 2) << t.dir;
    for (size_t a = 0; a < plan.axes.size(); ++a) out << std::setw(static_cast<int>(width[a]) + 2) << t.values[a];
    if (status) out << task_state_name((*status)[static_cast<size_t>(t.index)].state);
    out << "\n";
  }
  out << std::right;
}

}  // namespace

int command_sweep(CommandContext& c) {
  SweepRequest rq;
  std::string launcher;
  int64_t workers = 0;
  bool dry_run = false, status_only = false, quiet = false;
  po::options_description desc("options");
  desc.add_options()
      ("help,h", "this text")
      ("experiment", po::value(&rq.path)->required(), "experiment YAML file (its `sweep:` block gives axes and launcher)")
      ("set", po::value(&rq.sets)->composing(), "override a config value of every task: key.path=value (repeatable); "
                                                "sweep.launcher.<key>=value sets a launcher key")
      ("grid", po::value(&rq.grid)->composing(), "grid axis key.path=a,b,c (repeatable; cartesian product)")
      ("zip", po::value(&rq.zip)->composing(), "zip axis key.path=a,b,c (repeatable; paired element by element)")
      ("id", po::value(&rq.id), "sweep id, the folder under <dir>/<experiment>/ (default: sweep.id, else a hash)")
      ("launcher", po::value(&launcher), "launcher: local or slurm (overrides sweep.launcher)")
      ("workers", po::value(&workers), "local launcher: tasks at once (sweep.launcher.workers)")
      ("dry-run", po::bool_switch(&dry_run), "list the tasks and what each varies; write and run nothing")
      ("status", po::bool_switch(&status_only), "show each task's state and the failures; run nothing")
      ("quiet,q", po::bool_switch(&quiet), "no progress on stderr");
  po::positional_options_description pos;
  pos.add("experiment", 1);
  po::variables_map vm;
  if (!parse_options(c.args, desc, pos, vm, c.synopsis, c.out)) return 0;
  // First, so that a later --set sweep.launcher.<key>=... applies to the launcher chosen here.
  if (!launcher.empty()) rq.sets.insert(rq.sets.begin(), "sweep.launcher=" + launcher);
  if (vm.count("workers")) rq.sets.push_back("sweep.launcher.workers=" + std::to_string(workers));

  const SweepPlan plan = plan_sweep(rq, c.registries);
  std::string axes;
  for (const SweepAxis& a : plan.axes)
    axes += (axes.empty() ? "" : ", ") + a.name + " (" + (a.zip ? "zip" : "grid") + ", " +
            std::to_string(a.values.size()) + ")";
  c.out << "sweep " << plan.id << " of " << plan.experiment << ": " << plan.tasks.size() << " task(s)"
        << (axes.empty() ? "" : " over " + axes) << "\nfolder: " << plan.root << "\n";
  if (dry_run) {
    print_tasks(c.out, plan, nullptr);
    // What the launcher would do with the tasks not yet complete (statuses are only read here).
    LaunchRequest lr;
    lr.plan = &plan;
    for (const SweepTask& t : plan.tasks)
      if (read_task_status(plan.task_dir(t), plan.result_file).state != TaskState::complete) lr.tasks.push_back(t.index);
    lr.pqlab = self_executable();
    lr.workdir = current_directory();
    if (lr.tasks.empty()) c.out << "every task is complete: nothing would run\n";
    else c.out << plan.launcher->preview(lr);
    return 0;
  }
  create_directories(plan.root);
  const int lock = lock_sweep(plan.root);
  write_sweep_files(plan, current_directory());

  auto statuses = [&] {
    std::vector<TaskStatus> v;
    for (const SweepTask& t : plan.tasks) v.push_back(read_task_status(plan.task_dir(t), plan.result_file));
    return v;
  };
  std::vector<TaskStatus> st = statuses();
  const std::set<int64_t> busy = plan.launcher->in_flight(plan);
  std::vector<int64_t> todo;
  int64_t complete = 0, left_alone = 0, rerun = 0;
  for (const SweepTask& t : plan.tasks) {
    const TaskStatus& s = st[static_cast<size_t>(t.index)];
    if (s.state == TaskState::complete) ++complete;
    else if (busy.count(t.index) || (s.state == TaskState::running && !plan.launcher->tracks_all_tasks())) ++left_alone;
    else {
      todo.push_back(t.index);
      rerun += s.state != TaskState::pending;
    }
  }
  auto list_failures = [&](const std::vector<TaskStatus>& now) {
    int64_t n = 0;
    for (const SweepTask& t : plan.tasks) {
      const TaskStatus& s = now[static_cast<size_t>(t.index)];
      if (s.state != TaskState::failed && s.state != TaskState::interrupted) continue;
      if (!n++) c.err << "failed tasks:\n";
      c.err << "  task " << t.index << " (" << t.dir << "): "
            << (s.state == TaskState::failed ? "exit " + std::to_string(s.exit_code) : std::string("interrupted"))
            << ", log " << path_join(plan.task_dir(t), "log") << "\n";
    }
    return n;
  };
  if (status_only) {
    print_tasks(c.out, plan, &st);
    list_failures(st);
    ::close(lock);
    return 0;
  }
  c.out << complete << " complete, " << left_alone << " queued or running elsewhere, " << todo.size() << " to run";
  if (rerun) c.out << " (" << rerun << " failed or interrupted before)";
  c.out << "\n" << std::flush;
  if (todo.empty()) {
    ::close(lock);
    return complete == static_cast<int64_t>(plan.tasks.size()) ? 0 : 1;
  }
  LaunchRequest lr;
  lr.plan = &plan;
  lr.tasks = todo;
  lr.pqlab = self_executable();
  lr.workdir = current_directory();
  if (!quiet) {
    lr.progress = &c.err;
    lr.terminal = ::isatty(STDERR_FILENO) == 1;
  }
  const LaunchResult res = plan.launcher->launch(lr);
  ::close(lock);
  c.out << res.summary << "\n";
  if (!res.finished) {
    c.out << "run the same command again to see the status and to resubmit failed tasks\n";
    return 0;
  }
  st = statuses();
  complete = 0;
  for (const TaskStatus& s : st) complete += s.state == TaskState::complete;
  const int64_t failed = list_failures(st);
  // A launcher that waited for every task leaves none pending: one that is (a Slurm task cancelled
  // before it started, say) did not run, and the sweep is not done.
  const int64_t missing = static_cast<int64_t>(plan.tasks.size()) - complete - failed;
  c.out << complete << "/" << plan.tasks.size() << " tasks complete" << (failed ? ", " + std::to_string(failed) + " failed" : "")
        << (missing ? ", " + std::to_string(missing) + " did not finish" : "") << "\n";
  return failed || missing ? 1 : 0;
}

}  // namespace pqlab::cli
