#include "framework/sweep/sweep_plan.h"

#include <algorithm>
#include <map>

#include "framework/config/typed_config.h"
#include "framework/core/error.h"
#include "framework/core/paths.h"
#include "framework/core/stable_hash.h"
#include "framework/experiment/experiment_spec.h"

namespace pqlab {
namespace {

using config::Node;

std::string where_of(const config::Origin& o) {
  if (!o.file) return o.synthetic;
  return o.file->path + ":" + std::to_string(o.line) + ":" + std::to_string(o.column);
}

// Removes `key` from mapping `m` and returns it (null node when absent).
Node take(Node& m, const std::string& key, config::Origin* key_origin) {
  for (size_t i = 0; i < m.map.size(); ++i)
    if (m.map[i].first == key) {
      Node v = std::move(m.map[i].second);
      if (key_origin) *key_origin = m.key_origins[i];
      m.map.erase(m.map.begin() + static_cast<std::ptrdiff_t>(i));
      m.key_origins.erase(m.key_origins.begin() + static_cast<std::ptrdiff_t>(i));
      return v;
    }
  return Node{};
}

// The axes of `sweep.grid` or `sweep.zip`: a mapping of config key to a list of values.
void read_axes(Node& sweep, const char* kind, bool zip, std::vector<SweepAxis>& axes, config::ErrorList& errors) {
  config::Origin at;
  const Node block = take(sweep, kind, &at);
  if (block.kind == Node::Kind::null) return;
  if (block.kind != Node::Kind::map) {
    errors.add(block.origin, std::string("'sweep.") + kind + "' must be a mapping of config key to a list of values",
               {std::string("e.g. ") + kind + ": {variants.0.method.tau: [0, 0.01]}"});
    return;
  }
  for (size_t i = 0; i < block.map.size(); ++i) {
    const auto& [key, values] = block.map[i];
    if (values.kind != Node::Kind::seq || values.seq.empty()) {
      errors.add(values.origin, "sweep axis '" + key + "' needs a non-empty list of values");
      continue;
    }
    SweepAxis a;
    a.key = key;
    a.zip = zip;
    a.where = where_of(block.key_origins[i]);
    for (const Node& v : values.seq) a.values.push_back(config::to_flow_yaml(v));
    axes.push_back(std::move(a));
  }
}

// Short names: the key's last component, or more of its tail where two axes would share one.
void name_axes(std::vector<SweepAxis>& axes) {
  auto parts_of = [](const std::string& k) {
    std::vector<std::string> p;
    size_t s = 0;
    for (size_t e = k.find('.'); ; e = k.find('.', s)) {
      p.push_back(k.substr(s, e == std::string::npos ? std::string::npos : e - s));
      if (e == std::string::npos) break;
      s = e + 1;
    }
    return p;
  };
  std::vector<size_t> depth(axes.size(), 1);
  for (bool changed = true; changed;) {
    changed = false;
    std::map<std::string, std::vector<size_t>> by_name;
    for (size_t i = 0; i < axes.size(); ++i) {
      const auto p = parts_of(axes[i].key);
      const size_t d = std::min(depth[i], p.size());
      std::string n;
      for (size_t j = p.size() - d; j < p.size(); ++j) n += (n.empty() ? "" : ".") + p[j];
      axes[i].name = n;
      by_name[n].push_back(i);
    }
    for (const auto& [n, idx] : by_name)
      if (idx.size() > 1)
        for (size_t i : idx)
          if (depth[i] < parts_of(axes[i].key).size()) {
            ++depth[i];
            changed = true;
          }
  }
}

// Task value indices: grid axes as nested loops (first axis outermost), zip rows innermost.
std::vector<std::vector<size_t>> combinations(const std::vector<SweepAxis>& axes) {
  std::vector<std::vector<size_t>> out(1, std::vector<size_t>(axes.size(), 0));
  size_t zip_len = 0;
  for (size_t a = 0; a < axes.size(); ++a) {
    if (axes[a].zip) {
      zip_len = axes[a].values.size();
      continue;
    }
    std::vector<std::vector<size_t>> next;
    for (const auto& c : out)
      for (size_t v = 0; v < axes[a].values.size(); ++v) {
        next.push_back(c);
        next.back()[a] = v;
      }
    out = std::move(next);
  }
  if (zip_len == 0) return out;
  std::vector<std::vector<size_t>> next;
  for (const auto& c : out)
    for (size_t r = 0; r < zip_len; ++r) {
      next.push_back(c);
      for (size_t a = 0; a < axes.size(); ++a)
        if (axes[a].zip) next.back()[a] = r;
    }
  return next;
}

}  // namespace

std::pair<std::string, std::vector<std::string>> parse_axis_argument(const std::string& arg) {
  const size_t eq = arg.find('=');
  if (eq == std::string::npos || eq == 0)
    throw UsageError("an axis is key=value1,value2,... (e.g. --grid variants.0.method.tau=0,0.01), got '" + arg + "'");
  std::vector<std::string> values;
  std::string cur;
  int depth = 0;
  for (char ch : arg.substr(eq + 1)) {
    if (ch == '[' || ch == '{') ++depth;
    if (ch == ']' || ch == '}') --depth;
    if (ch == ',' && depth == 0) {
      values.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  values.push_back(cur);
  for (std::string& v : values) {
    v.erase(0, v.find_first_not_of(' '));
    v.erase(v.find_last_not_of(' ') + 1);
    if (v.empty()) throw UsageError("axis '" + arg + "' has an empty value");
  }
  return {arg.substr(0, eq), values};
}

std::string SweepPlan::task_dir(const SweepTask& t) const { return path_join(root, t.dir); }

SweepPlan plan_sweep(const SweepRequest& rq, const Registries& registries) {
  Node root = config::load_config_tree(rq.path, rq.sets);
  std::unique_ptr<Node> block = strip_sweep(root);
  Node sweep;
  if (block) sweep = std::move(*block);
  if (sweep.kind == Node::Kind::null) sweep.kind = Node::Kind::map;
  config::ErrorList errors;
  if (sweep.kind != Node::Kind::map) {
    errors.add(sweep.origin, "'sweep' must be a mapping (keys: grid, zip, id, dir, launcher)");
    errors.throw_if_any();
  }
  std::vector<SweepAxis> axes;
  read_axes(sweep, "grid", false, axes, errors);
  read_axes(sweep, "zip", true, axes, errors);
  // The default launcher is local, also where `--set sweep.launcher.<key>=...` (or --workers)
  // made a launcher mapping without a name on an experiment that has no launcher of its own.
  const Node* launcher = sweep.find("launcher");
  if (!launcher) config::apply_set(sweep, "launcher=local", errors, "the default launcher");
  else if (launcher->kind == Node::Kind::map && !launcher->find("name"))
    config::apply_set(sweep, "launcher.name=local", errors, "the default launcher");
  SweepSettings settings;
  config::read_typed_config(sweep, "sweep", &registries, errors, settings);
  errors.throw_if_any();
  // Command-line axes replace a file axis of the same key, or add one.
  auto add_cli = [&](const std::vector<std::string>& args, bool zip, const char* flag) {
    for (const std::string& arg : args) {
      // Not a structured binding: C++17 lambdas cannot capture one (clang rejects it).
      std::pair<std::string, std::vector<std::string>> parsed = parse_axis_argument(arg);
      SweepAxis a{parsed.first, "", zip, parsed.second, std::string(flag) + " " + arg};
      auto same = std::find_if(axes.begin(), axes.end(), [&](const SweepAxis& x) { return x.key == a.key; });
      if (same != axes.end()) *same = a;
      else axes.push_back(a);
    }
  };
  add_cli(rq.grid, false, "--grid");
  add_cli(rq.zip, true, "--zip");
  const SweepAxis* first_zip = nullptr;
  for (const SweepAxis& a : axes)
    if (a.zip && !first_zip) first_zip = &a;
    else if (a.zip && a.values.size() != first_zip->values.size())
      throw UsageError("zip axes pair their values, so they need one length: '" + first_zip->key + "' (" +
                       first_zip->where + ") has " + std::to_string(first_zip->values.size()) + ", '" + a.key +
                       "' (" + a.where + ") has " + std::to_string(a.values.size()));
  name_axes(axes);

  SweepPlan plan;
  plan.source = rq.path;
  plan.axes = axes;
  plan.launcher = settings.launcher;
  {
    Node l;
    config::ConfigWriter w(l);
    config::plugin_field(w, "launcher", plan.launcher, "");
    plan.launcher_yaml = config::to_yaml(l);
  }
  std::string axes_text;
  for (const SweepAxis& a : axes) {
    axes_text += (a.zip ? "zip " : "grid ") + a.key + ":";
    for (const std::string& v : a.values) axes_text += " " + v;
    axes_text += "\n";
  }
  for (const std::vector<size_t>& combo : combinations(axes)) {
    Node t = root;
    SweepTask task;
    task.index = static_cast<int64_t>(plan.tasks.size());
    std::string what;
    for (size_t a = 0; a < axes.size(); ++a) {
      task.values.push_back(axes[a].values[combo[a]]);
      what += (what.empty() ? "" : ", ") + axes[a].key + "=" + task.values.back();
      config::apply_set(t, axes[a].key + "=" + task.values.back(), errors,
                        "sweep axis " + axes[a].key + "=" + task.values.back() + " (" + axes[a].where + ")");
    }
    errors.throw_if_any();
    ExperimentSpec spec;
    try {
      spec = load_experiment_tree(t, rq.path, registries);
    } catch (const ConfigError& e) {
      std::vector<Diagnostic> d = e.diagnostics();
      if (!d.empty()) d.front().notes.push_back("in sweep task " + std::to_string(task.index) + ": " + what);
      throw ConfigError(d);
    }
    task.resolved_yaml = spec.resolved_yaml;
    task.hash = stable_hash_hex(spec.resolved_yaml, 10);
    task.dir = std::to_string(task.index) + "-" + task.hash;
    if (plan.experiment.empty()) plan.experiment = spec.name;
    else if (plan.experiment != spec.name)
      throw UsageError("sweep tasks must share the experiment name ('" + plan.experiment + "' and '" + spec.name +
                       "'); do not sweep 'name'");
    plan.tasks.push_back(std::move(task));
  }
  plan.result_file = plan.experiment + ".h5";
  plan.id = !rq.id.empty() ? rq.id : !settings.id.empty() ? settings.id : "s" + stable_hash_hex(config::to_yaml(root) + axes_text, 8);
  if (!is_plain_file_stem(plan.id))
    throw UsageError("sweep id '" + plan.id + "' must be a plain file stem (" + kPlainFileStemRule + ")");
  plan.root = path_join(path_join(settings.dir, plan.experiment), plan.id);
  return plan;
}

}  // namespace pqlab
