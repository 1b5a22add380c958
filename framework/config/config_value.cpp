#include "framework/config/config_value.h"

#include <sys/stat.h>
#include <yaml-cpp/emitter.h>
#include <yaml-cpp/emittermanip.h>

#include "framework/core/paths.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

namespace pqlab::config {

const Node* Node::find(const std::string& key) const {
  for (const auto& [k, v] : map)
    if (k == key) return &v;
  return nullptr;
}
Node* Node::find(const std::string& key) {
  for (auto& [k, v] : map)
    if (k == key) return &v;
  return nullptr;
}

std::string Node::kind_name() const {
  switch (kind) {
    case Kind::map: return "a mapping";
    case Kind::seq: return "a sequence";
    case Kind::scalar: return "a scalar";
    default: return "empty";
  }
}

Diagnostic make_diagnostic(const Origin& o, const std::string& message, std::vector<std::string> notes) {
  Diagnostic d;
  d.message = message;
  if (o.file) {
    d.loc.file = o.file->path;
    d.loc.line = o.line;
    d.loc.column = o.column;
    d.loc.length = std::max(1, o.length);
    if (o.line > 0 && o.line <= static_cast<int>(o.file->lines.size()))
      d.loc.line_text = o.file->lines[o.line - 1];
    if (!o.via.empty()) notes.push_back(o.via);
    for (const auto& inc : o.file->included_from) notes.push_back("included from " + inc);
  } else if (!o.synthetic.empty()) {
    d.loc.file = "<command line: " + o.synthetic + ">";
  }
  d.notes = std::move(notes);
  return d;
}

void ErrorList::add(Diagnostic d) {
  const std::string key = d.loc.file + ":" + std::to_string(d.loc.line) + ":" + std::to_string(d.loc.column) +
                          ":" + d.message;
  if (!seen_.insert(key).second) return;
  ++count_;
  if (diags_.size() < kMaxErrors) diags_.push_back(std::move(d));
}

void ErrorList::throw_if_any() const {
  if (count_ == 0) return;
  auto diags = diags_;
  if (count_ > diags_.size()) {
    Diagnostic more;
    more.message = "too many errors (" + std::to_string(count_) + "); stopping after " +
                   std::to_string(kMaxErrors);
    diags.push_back(more);
  }
  throw ConfigError(std::move(diags));
}

namespace {

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream is(text);
  std::string l;
  while (std::getline(is, l)) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
    lines.push_back(l);
  }
  return lines;
}

std::string join_paths(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& t : v) s += (s.empty() ? "" : ", ") + t;
  return s;
}

void expand_includes(Node& n, const std::string& path, const SourceFile& file,
                     const std::vector<std::string>& search_dirs, std::vector<std::string>& stack,
                     ErrorList& errors);

std::string location_text(const Origin& o) {
  if (!o.file) return o.synthetic;
  return o.file->path + ":" + std::to_string(o.line) + ":" + std::to_string(o.column);
}

void file_error(const std::string& path, const std::vector<std::string>& included_from, const std::string& msg,
                ErrorList& errors) {
  Diagnostic d;
  d.loc.file = path;
  d.message = msg;
  for (const auto& inc : included_from) d.notes.push_back("included from " + inc);
  errors.add(d);
}

Node load_recursive(const std::string& path, const std::vector<std::string>& search_dirs,
                    std::vector<std::string> included_from, std::vector<std::string>& stack,
                    ErrorList& errors) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    file_error(path, included_from, "is a directory, not a config file", errors);
    return {};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    file_error(path, included_from, "cannot open config file", errors);
    return {};
  }
  if (S_ISREG(st.st_mode) && static_cast<size_t>(st.st_size) > kMaxConfigFileBytes) {
    file_error(path, included_from,
               "config file is " + std::to_string(st.st_size) + " bytes; the limit is " +
                   std::to_string(kMaxConfigFileBytes),
               errors);
    return {};
  }
  // Read in chunks and stop one chunk past the limit: the size check above does not see pipes or
  // /dev files, and a buffer of the limit's size per file would cost more than parsing a config.
  std::string text;
  char chunk[1 << 16];
  while (text.size() <= kMaxConfigFileBytes && in.read(chunk, sizeof chunk).gcount() > 0)
    text.append(chunk, static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxConfigFileBytes) {
    file_error(path, included_from, "config file is larger than the limit of " +
                                        std::to_string(kMaxConfigFileBytes) + " bytes", errors);
    return {};
  }
  auto file = std::make_shared<SourceFile>();
  file->path = path;
  file->lines = split_lines(text);
  file->included_from = included_from;
  bool empty = false;
  Node root = parse_yaml_text(text, file, {}, errors, empty);
  if (empty) {
    file_error(path, included_from, "config file is empty (expected a mapping of keys)", errors);
    return {};
  }
  if (root.kind == Node::Kind::null) return root;
  if (root.kind != Node::Kind::map) {
    errors.add(root.origin, "a config file must be a mapping of keys, got " + root.kind_name());
    return {};
  }
  expand_includes(root, path, *file, search_dirs, stack, errors);
  return root;
}

// Resolves `include:` in every mapping of the tree (so a fragment can fill a nested key, e.g.
// `weight_format: {include: formats/nvfp4.yaml}`): the included files merge in order, then the
// mapping's own keys on top.
void expand_includes(Node& n, const std::string& path, const SourceFile& file,
                     const std::vector<std::string>& search_dirs, std::vector<std::string>& stack,
                     ErrorList& errors) {
  for (auto& e : n.seq) expand_includes(e, path, file, search_dirs, stack, errors);
  if (n.kind != Node::Kind::map) return;
  for (auto& kv : n.map)
    if (kv.first != "include") expand_includes(kv.second, path, file, search_dirs, stack, errors);
  const Node* inc = n.find("include");
  if (!inc) return;

  std::vector<const Node*> items;
  if (inc->kind == Node::Kind::scalar) items.push_back(inc);
  else if (inc->kind == Node::Kind::seq)
    for (const auto& e : inc->seq) items.push_back(&e);
  else
    errors.add(inc->origin, "'include' must be a path or a list of paths, got " + inc->kind_name());

  Node merged;
  merged.kind = Node::Kind::map;
  for (const Node* item : items) {
    if (item->kind != Node::Kind::scalar) {
      errors.add(item->origin, "'include' entries must be paths, got " + item->kind_name());
      continue;
    }
    std::vector<std::string> tried;
    std::string found;
    std::vector<std::string> bases = {path_parent(path)};
    for (const auto& d : search_dirs) bases.push_back(d);
    for (const auto& b : bases) {
      const std::string c = path_normal(path_join(b, item->scalar));
      if (std::find(tried.begin(), tried.end(), c) == tried.end()) tried.push_back(c);
      if (is_regular_file(c)) {
        found = c;
        break;
      }
    }
    if (found.empty()) {
      errors.add(item->origin, "included file '" + item->scalar + "' not found", {"searched: " + join_paths(tried)});
      continue;
    }
    const std::string canon = path_canonical(found);
    if (stack.size() >= static_cast<size_t>(kMaxIncludeDepth)) {
      errors.add(item->origin, "includes nest more than " + std::to_string(kMaxIncludeDepth) + " files deep");
      continue;
    }
    if (std::find(stack.begin(), stack.end(), canon) != stack.end()) {
      errors.add(item->origin, "include cycle: '" + item->scalar + "' is already being loaded");
      continue;
    }
    stack.push_back(canon);
    std::vector<std::string> chain = {location_text(item->origin)};
    chain.insert(chain.end(), file.included_from.begin(), file.included_from.end());
    Node sub = load_recursive(found, search_dirs, chain, stack, errors);
    stack.pop_back();
    if (sub.kind == Node::Kind::map) merge_into(merged, sub);
  }
  for (size_t i = 0; i < n.map.size(); ++i)
    if (n.map[i].first == "include") {
      n.map.erase(n.map.begin() + static_cast<long>(i));
      n.key_origins.erase(n.key_origins.begin() + static_cast<long>(i));
      break;
    }
  const Origin origin = n.origin;
  merge_into(merged, n);
  merged.origin = origin;
  n = std::move(merged);
}

void emit(YAML::Emitter& e, const Node& n) {
  switch (n.kind) {
    case Node::Kind::scalar:
      if (n.quoted) e << YAML::DoubleQuoted << n.scalar;
      else e << n.scalar;
      break;
    case Node::Kind::seq:
      e << YAML::BeginSeq;
      for (const auto& x : n.seq) emit(e, x);
      e << YAML::EndSeq;
      break;
    case Node::Kind::map:
      e << YAML::BeginMap;
      for (const auto& [k, v] : n.map) {
        // A plain '<<' would read back as a merge key.
        if (k == "<<") e << YAML::Key << YAML::DoubleQuoted << k << YAML::Value;
        else e << YAML::Key << k << YAML::Value;
        emit(e, v);
      }
      e << YAML::EndMap;
      break;
    default:
      e << YAML::Null;
  }
}

}  // namespace

Node parse_yaml(const std::string& text, std::shared_ptr<SourceFile> file, ErrorList& errors) {
  if (file->lines.empty()) file->lines = split_lines(text);
  bool empty = false;
  return parse_yaml_text(text, file, {}, errors, empty);
}

Node load_config_file(const std::string& path, const std::vector<std::string>& search_dirs,
                      ErrorList& errors) {
  std::vector<std::string> stack = {path_canonical(path)};
  return load_recursive(path, search_dirs, {}, stack, errors);
}

void merge_into(Node& base, const Node& top) {
  if (base.kind != Node::Kind::map || top.kind != Node::Kind::map) {
    base = top;
    return;
  }
  // Indexed: merging two mappings of n keys is O(n log n), not O(n^2).
  std::map<std::string, size_t> index;
  for (size_t j = 0; j < base.map.size(); ++j) index.emplace(base.map[j].first, j);
  for (size_t i = 0; i < top.map.size(); ++i) {
    const auto& [k, v] = top.map[i];
    const auto it = index.find(k);
    if (it != index.end()) {
      merge_into(base.map[it->second].second, v);
      base.key_origins[it->second] = top.key_origins[i];
    } else {
      index.emplace(k, base.map.size());
      base.map.emplace_back(k, v);
      base.key_origins.push_back(top.key_origins[i]);
    }
  }
}

void apply_set(Node& root, const std::string& assignment, ErrorList& errors, const std::string& source) {
  Origin o;
  o.synthetic = source.empty() ? "--set " + assignment : source;
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    errors.add(o, "--set expects key.path=value, got '" + assignment + "'");
    return;
  }
  const std::string path = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  ErrorList inner;
  bool empty = false;
  Node value = parse_yaml_text(text, nullptr, o, inner, empty);
  if (empty) {
    value = Node{};
    value.origin = o;
  }
  if (!inner.empty()) {
    bool syntax = false;
    try {
      inner.throw_if_any();
    } catch (const ConfigError& e) {
      for (const auto& d : e.diagnostics()) {
        if (d.message.rfind("invalid YAML", 0) == 0) syntax = true;
        else errors.add(d);
      }
    }
    if (syntax) errors.add(o, "--set value '" + text + "' is not valid YAML");
    return;
  }
  std::vector<std::string> parts;
  std::stringstream ss(path);
  std::string part;
  while (std::getline(ss, part, '.')) parts.push_back(part);
  Node* cur = &root;
  if (cur->kind == Node::Kind::null) {
    cur->kind = Node::Kind::map;
    cur->origin = o;
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    if (p.empty()) {
      errors.add(o, "--set key path '" + path + "' has an empty component");
      return;
    }
    Node* next = nullptr;
    if (cur->kind == Node::Kind::seq) {
      char* end = nullptr;
      const long idx = std::strtol(p.c_str(), &end, 10);
      if (*end || idx < 0 || idx >= static_cast<long>(cur->seq.size())) {
        errors.add(o, "--set: '" + p + "' is not an index of the " + std::to_string(cur->seq.size()) +
                          "-element sequence at '" + path.substr(0, path.find(p)) + "'");
        return;
      }
      next = &cur->seq[static_cast<size_t>(idx)];
    } else {
      if (cur->kind == Node::Kind::scalar) {
        // `weight_format: nvfp4` is shorthand for {name: nvfp4}; setting a sub-key expands it.
        // The mapping is the override's doing, so errors about it name the --set argument.
        Node expanded;
        expanded.kind = Node::Kind::map;
        expanded.origin = o;
        expanded.map.emplace_back("name", *cur);
        expanded.key_origins.push_back(cur->origin);
        *cur = expanded;
      } else if (cur->kind != Node::Kind::map) {
        cur->kind = Node::Kind::map;
        cur->origin = o;
      }
      next = cur->find(p);
      if (!next) {
        Node empty;
        empty.origin = o;
        cur->map.emplace_back(p, empty);
        cur->key_origins.push_back(o);
        next = &cur->map.back().second;
      } else {
        for (size_t j = 0; j < cur->map.size(); ++j)
          if (cur->map[j].first == p) cur->key_origins[j] = o;
      }
    }
    cur = next;
  }
  std::function<void(Node&)> stamp = [&](Node& n) {
    n.origin = o;
    for (auto& ko : n.key_origins) ko = o;
    for (auto& [k, v] : n.map) stamp(v);
    for (auto& e : n.seq) stamp(e);
  };
  stamp(value);
  if (cur->kind == Node::Kind::map && value.kind == Node::Kind::map) merge_into(*cur, value);
  else *cur = value;
}

std::string to_yaml(const Node& n) {
  YAML::Emitter e;
  emit(e, n);
  return std::string(e.c_str()) + "\n";
}

std::string to_flow_yaml(const Node& n) {
  YAML::Emitter e;
  e.SetSeqFormat(YAML::Flow);
  e.SetMapFormat(YAML::Flow);
  emit(e, n);
  return e.c_str();
}

std::vector<std::string> default_search_dirs(const std::string& experiment_path) {
  std::vector<std::string> dirs;
  dirs.push_back(path_normal(path_join(path_join(path_parent(experiment_path), ".."), "configs")));
  dirs.push_back(path_join(PQLAB_SOURCE_DIR, "configs"));
  return dirs;
}

}  // namespace pqlab::config
