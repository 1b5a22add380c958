// Loading any typed config struct (one with a static map(IO&, T&)) from a YAML file: includes,
// --set overrides, unknown-key checks and the resolved YAML, exactly as experiments get them.
#pragma once
#include <string>
#include <vector>

#include "framework/config/config_reader.h"
#include "framework/config/config_value.h"
#include "framework/config/config_writer.h"

namespace pqlab::config {

/// The resolved YAML of `c` (every key with its final value).
template <class T> std::string dump_typed_config(T& c) {
  Node out;
  ConfigWriter w(out);
  T::map(w, c);
  return to_yaml(out);
}

/// The config tree of `path`: includes resolved, then every `sets` override ("key.path=value")
/// applied. Throws ConfigError with every problem located (file:line:col).
inline Node load_config_tree(const std::string& path, const std::vector<std::string>& sets) {
  ErrorList errors;
  Node root = load_config_file(path, default_search_dirs(path), errors);
  errors.throw_if_any();
  for (const auto& s : sets) apply_set(root, s, errors);
  errors.throw_if_any();
  return root;
}

/// Reads `root` into c through T::map, adding every problem (unknown keys too) to `errors`
/// without throwing, so that callers can add checks of their own first.
template <class T>
void read_typed_config(const Node& root, const std::string& context, const Registries* registries, ErrorList& errors,
                       T& c) {
  ConfigReader reader(&root, context, errors, registries);
  T::map(reader, c);
  reader.finish();
}

/// Parses `path` into a T. context names the mapping in messages ("train-flux config").
/// Throws ConfigError with every problem located (file:line:col).
template <class T>
T load_typed_config(const std::string& path, const std::vector<std::string>& sets, const std::string& context,
                    const Registries* registries) {
  const Node root = load_config_tree(path, sets);
  ErrorList errors;
  T c;
  read_typed_config(root, context, registries, errors, c);
  errors.throw_if_any();
  return c;
}

}  // namespace pqlab::config
