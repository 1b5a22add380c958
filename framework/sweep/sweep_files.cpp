#include "framework/sweep/sweep_files.h"

#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "framework/core/error.h"
#include "framework/core/host.h"
#include "framework/core/paths.h"
#include "framework/core/version.h"
#include "framework/io/json_limits.h"

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

SweepManifest read_sweep_manifest(const std::string& root) {
  const std::string manifest = path_join(root, "manifest.json");
  std::ifstream in(manifest, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) throw UsageError(manifest + ": cannot read the sweep manifest");
  if (const std::string e = json_depth_error(text.str()); !e.empty()) throw UsageError(manifest + ": " + e);
  auto flow = [](const nlohmann::json& j) { return j.is_string() ? j.get<std::string>() : j.dump(); };
  SweepManifest m;
  try {
    const nlohmann::json j = nlohmann::json::parse(text.str());
    if (j.value("format_version", 0) != kManifestFormat)
      throw UsageError(manifest + ": unsupported sweep manifest format_version (this pqlab reads " +
                       std::to_string(kManifestFormat) + ")");
    m.workdir = j.value("workdir", "");
    for (const auto& a : j.at("axes")) m.axes.push_back({a.at("key").get<std::string>(), a.at("name").get<std::string>()});
    for (const auto& t : j.at("tasks")) {
      SweepManifest::Task task{t.at("index").get<int64_t>(), t.at("dir").get<std::string>(), t.at("result").get<std::string>(), {}};
      if (t.contains("values"))
        for (const auto& item : t.at("values").items()) task.values[item.key()] = flow(item.value());
      m.tasks.push_back(task);
    }
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(manifest + ": not a sweep manifest: " + e.what());
  }
  return m;
}

std::string sweep_workdir_of_task(const std::string& task_dir) {
  const std::string root = path_parent(path_normal(task_dir));
  if (!is_regular_file(path_join(root, "manifest.json")))
    throw UsageError("'" + task_dir + "' is not a sweep task folder: no " + path_join(root, "manifest.json"));
  const std::string workdir = read_sweep_manifest(root).workdir;
  if (workdir.empty()) throw UsageError(path_join(root, "manifest.json") + ": no workdir recorded");
  return workdir;
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
