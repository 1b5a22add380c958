// Registry<I>: named factories for one plugin kind. Filled explicitly by
// register_builtin_plugins() (generated list; no static initializers), owned by a Registries
// value created in main() or in a test — never a global.
#pragma once
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framework/config/config_io.h"
#include "framework/core/error.h"

namespace pqlab {

template <class I>
class Registry {
 public:
  struct Entry {
    std::string name, help, file;
    int line = 0;
    /// Reads the plugin's config from io; returns null if io reported errors.
    std::function<std::shared_ptr<I>(config::ConfigIo&)> create;
    /// Maps a default-constructed config (for `explain`).
    std::function<void(config::ConfigIo&)> explain;
  };

  Registry(const char* kind, const char* name_key) : kind_(kind), name_key_(name_key) {}
  const char* kind() const { return kind_; }
  const char* name_key() const { return name_key_; }

  /// Registers Impl (needs `using Config = ...`, `explicit Impl(const Config&)`, and
  /// `static void Config::map(ConfigIo&, Config&)`). Duplicate names throw, citing both sites.
  template <class Impl>
  void add(const std::string& name, const std::string& help, const char* file, int line) {
    if (auto it = entries_.find(name); it != entries_.end())
      throw RuntimeError(std::string(file) + ":" + std::to_string(line) + ": " + kind_ + " '" + name +
                         "' registered twice (first at " + it->second.file + ":" +
                         std::to_string(it->second.line) + ")");
    Entry e;
    e.name = name;
    e.help = help;
    e.file = file;
    e.line = line;
    e.create = [](config::ConfigIo& io) -> std::shared_ptr<I> {
      typename Impl::Config c;
      const size_t before = io.error_count();
      Impl::Config::map(io, c);
      if (io.error_count() != before) return nullptr;
      return std::make_shared<Impl>(c);
    };
    e.explain = [](config::ConfigIo& io) {
      typename Impl::Config c;
      Impl::Config::map(io, c);
    };
    entries_.emplace(name, std::move(e));
  }

  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  /// Throws UsageError naming the registered plugins (and a did-you-mean) if absent.
  const Entry& at(const std::string& name) const;
  /// Sorted.
  std::vector<std::string> names() const {
    std::vector<std::string> n;
    for (const auto& [k, v] : entries_) n.push_back(k);
    return n;  // std::map keeps keys sorted
  }
  std::vector<const Entry*> entries() const {
    std::vector<const Entry*> v;
    for (const auto& [k, e] : entries_) v.push_back(&e);
    return v;
  }

 private:
  const char* kind_;
  const char* name_key_;
  std::map<std::string, Entry> entries_;
};

std::string unknown_plugin_message(const char* kind, const std::string& name,
                                   const std::vector<std::string>& names);

template <class I>
const typename Registry<I>::Entry& Registry<I>::at(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) throw UsageError(unknown_plugin_message(kind_, name, names()));
  return it->second;
}

/// Base for plugins: stores the typed config and maps it back for dumps.
template <class I, class Cfg>
class ConfiguredPlugin : public I {
 public:
  using Config = Cfg;
  explicit ConfiguredPlugin(const Cfg& c) : cfg_(c) {}
  void map_config(config::ConfigIo& io) override { Cfg::map(io, cfg_); }
  const Cfg& config() const { return cfg_; }

 protected:
  Cfg cfg_;
};

}  // namespace pqlab
