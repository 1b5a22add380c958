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

/// Parses `path` into a T. context names the mapping in messages ("train-flux config").
/// Throws ConfigError with every problem located (file:line:col).
template <class T>
T load_typed_config(const std::string& path, const std::vector<std::string>& sets, const std::string& context,
                    const Registries* registries) {
  ErrorList errors;
  Node root = load_config_file(path, default_search_dirs(path), errors);
  errors.throw_if_any();
  for (const auto& s : sets) apply_set(root, s, errors);
  errors.throw_if_any();
  T c;
  ConfigReader reader(&root, context, errors, registries);
  T::map(reader, c);
  reader.finish();
  errors.throw_if_any();
  return c;
}

}  // namespace pqlab::config
