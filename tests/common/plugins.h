// Builds plugins from YAML text through the real config path, for tests.
#pragma once
#include <memory>
#include <string>

#include "framework/config/config_reader.h"
#include "framework/registry/registries.h"

namespace pqlab::test {

/// Creates a plugin of interface I from YAML text such as "{name: int, bits: 4}" or "nvfp4".
/// Throws ConfigError on bad text.
template <class I>
std::shared_ptr<I> make_plugin(const Registries& r, const std::string& yaml) {
  config::ErrorList errors;
  auto file = std::make_shared<config::SourceFile>();
  file->path = "<test>";
  const config::Node node = config::parse_yaml(yaml, file, errors);
  Plugin<I> p;
  PluginSlotFor<I> slot(p, &r);
  config::ConfigReader reader(nullptr, "test", errors, &r);
  reader.plugin_here(node, slot);
  errors.throw_if_any();
  return p.impl;
}

inline const Registries& builtin() {
  static const Registries r = [] {
    Registries x;
    register_builtin_plugins(x);
    return x;
  }();
  return r;
}

}  // namespace pqlab::test
