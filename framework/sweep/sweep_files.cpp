#include "framework/sweep/sweep_files.h"

#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "framework/core/error.h"
#include "framework/core/host.h"
#include "framework/core/paths.h"
#include "framework/core/version.h"

namespace pqlab {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Writes through a temporary file and rename(), so that readers never see half a file.
void write_text_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    f.flush();
    if (!f) throw RuntimeError("cannot write '" + tmp + "'");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw RuntimeError("cannot rename '" + tmp + "' to '" + path + "'");
  }
}

void write_if_changed(const std::string& path, const std::string& text) {
  if (read_text(path) != text) write_text_atomic(path, text);
}

}  // namespace

void write_sweep_files(const SweepPlan& plan, const std::string& workdir) {
  create_directories(plan.root);
  nlohmann::json m;
  m["format_version"] = kManifestFormat;
  m["experiment"] = plan.experiment;
  m["sweep_id"] = plan.id;
  m["source"] = plan.source;
  m["workdir"] = workdir;
  m["pqlab_version"] = version();
  m["git_commit"] = git_commit();
  m["launcher"] = plan.launcher_yaml;
  m["axes"] = nlohmann::json::array();
  for (const SweepAxis& a : plan.axes)
    m["axes"].push_back({{"key", a.key}, {"name", a.name}, {"kind", a.zip ? "zip" : "grid"}, {"values", a.values}});
  m["tasks"] = nlohmann::json::array();
  for (const SweepTask& t : plan.tasks) {
    nlohmann::json values = nlohmann::json::object();
    for (size_t a = 0; a < plan.axes.size(); ++a) values[plan.axes[a].key] = t.values[a];
    m["tasks"].push_back(
        {{"index", t.index}, {"hash", t.hash}, {"dir", t.dir}, {"result", plan.result_file}, {"values", values}});
    const std::string dir = plan.task_dir(t);
    create_directories(dir);
    write_if_changed(path_join(dir, "config.yaml"), t.resolved_yaml);
  }
  write_if_changed(path_join(plan.root, "manifest.json"), m.dump(2) + "\n");
}

std::string sweep_workdir_of_task(const std::string& task_dir) {
  const std::string manifest = path_join(path_parent(path_normal(task_dir)), "manifest.json");
  const std::string text = read_text(manifest);
  if (text.empty()) throw UsageError("'" + task_dir + "' is not a sweep task folder: no " + manifest);
  try {
    return nlohmann::json::parse(text).at("workdir").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw RuntimeError("'" + manifest + "' is not a pqlab sweep manifest: " + e.what());
  }
}

const char* task_state_name(TaskState s) {
  switch (s) {
    case TaskState::pending: return "pending";
    case TaskState::running: return "running";
    case TaskState::interrupted: return "interrupted";
    case TaskState::failed: return "failed";
    case TaskState::complete: return "complete";
  }
  return "?";
}

TaskStatus read_task_status(const std::string& task_dir, const std::string& result_file) {
  TaskStatus st;
  std::string line = read_text(path_join(task_dir, "status"));
  if (!line.empty() && line.back() == '\n') line.pop_back();
  st.detail = line;
  if (is_regular_file(path_join(task_dir, result_file))) {
    st.state = TaskState::complete;
    return st;
  }
  std::istringstream in(line);
  std::string word;
  in >> word;
  if (word == "failed") {
    st.state = TaskState::failed;
    in >> st.exit_code;
  } else if (word == "running") {
    std::string host;
    long pid = 0;
    in >> host >> pid;
    st.state = host == host_name() && !process_exists(pid) ? TaskState::interrupted : TaskState::running;
  } else if (word == "done") {
    // "done" without the result: the file was deleted since; run it again.
    st.state = TaskState::interrupted;
  }
  return st;
}

void write_task_status(const std::string& task_dir, const std::string& line) {
  write_text_atomic(path_join(task_dir, "status"), line + "\n");
}

std::string status_running() {
  return "running " + host_name() + " " + std::to_string(::getpid()) + " " + now_iso8601();
}
std::string status_done() { return "done " + now_iso8601(); }
std::string status_failed(int exit_code) { return "failed " + std::to_string(exit_code) + " " + now_iso8601(); }

}  // namespace pqlab
