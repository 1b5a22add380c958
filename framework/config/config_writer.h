// Dumps typed configs back to a tree (the resolved config stored with every result) and explains
// their schema (`pqlab explain`), from the same map() functions that read them.
#pragma once
#include <string>
#include <vector>

#include "framework/config/config_io.h"
#include "framework/config/config_value.h"

namespace pqlab::config {

class ConfigWriter final : public ConfigIo {
 public:
  explicit ConfigWriter(Node& out) : out_(out) { out_.kind = Node::Kind::map; }
  Mode mode() const override { return Mode::write; }
  void field(const char* key, bool& v, const char* help, FieldOpts o = {}) override;
  void field(const char* key, int64_t& v, const char* help, FieldOpts o = {}) override;
  void field(const char* key, double& v, const char* help, FieldOpts o = {}) override;
  void field(const char* key, std::string& v, const char* help, FieldOpts o = {}) override;
  void field(const char* key, GroupSize& v, const char* help, FieldOpts o = {}) override;
  void field(const char* key, std::vector<std::string>& v, const char* help, FieldOpts o = {}) override;
  void field(const char* key, std::vector<int64_t>& v, const char* help, FieldOpts o = {}) override;
  void field(const char* key, std::vector<double>& v, const char* help, FieldOpts o = {}) override;
  using ConfigIo::field;
  void plugin(const char* key, const char* help, FieldOpts o, PluginSlot& slot) override;
  void plugin_list(const char* key, const char* help, FieldOpts o,
                   const std::function<std::unique_ptr<PluginSlot>(size_t)>& slot_at,
                   size_t& count) override;
  void nested(const char* key, const char* help, FieldOpts o,
              const std::function<void(ConfigIo&)>& body) override;
  void elements(const char* key, const char* help, FieldOpts o, size_t& count,
                const std::function<void(size_t, ConfigIo&)>& body) override;
  void check(bool, const char*, const std::string&) override {}
  const Registries* registries() const override { return nullptr; }
  size_t error_count() const override { return 0; }

  /// Writes a plugin (name + its config) into `out`.
  static void write_plugin(Node& out, PluginSlot& slot);

 private:
  Node& add(const char* key);
  Node& out_;
};

/// One documented key of a schema.
struct KeyDoc {
  std::string key;          ///< dotted path, "[]" for list elements
  std::string type;
  std::string default_value;
  std::string help;
  bool required = false;
};

class ConfigExplainer final : public ConfigIo {
 public:
  explicit ConfigExplainer(std::vector<KeyDoc>& out, std::string prefix = "")
      : out_(out), prefix_(std::move(prefix)) {}
  Mode mode() const override { return Mode::explain; }
  void field(const char* key, bool& v, const char* help, FieldOpts o = {}) override;
  void field(const char* key, int64_t& v, const char* help, FieldOpts o = {}) override;
  void field(const char* key, double& v, const char* help, FieldOpts o = {}) override;
  void field(const char* key, std::string& v, const char* help, FieldOpts o = {}) override;
  void field(const char* key, GroupSize& v, const char* help, FieldOpts o = {}) override;
  void field(const char* key, std::vector<std::string>& v, const char* help, FieldOpts o = {}) override;
  void field(const char* key, std::vector<int64_t>& v, const char* help, FieldOpts o = {}) override;
  void field(const char* key, std::vector<double>& v, const char* help, FieldOpts o = {}) override;
  using ConfigIo::field;
  void plugin(const char* key, const char* help, FieldOpts o, PluginSlot& slot) override;
  void plugin_list(const char* key, const char* help, FieldOpts o,
                   const std::function<std::unique_ptr<PluginSlot>(size_t)>& slot_at,
                   size_t& count) override;
  void nested(const char* key, const char* help, FieldOpts o,
              const std::function<void(ConfigIo&)>& body) override;
  void elements(const char* key, const char* help, FieldOpts o, size_t& count,
                const std::function<void(size_t, ConfigIo&)>& body) override;
  void check(bool, const char*, const std::string&) override {}
  const Registries* registries() const override { return nullptr; }
  size_t error_count() const override { return 0; }

 private:
  void row(const char* key, std::string type, std::string def, const char* help, const FieldOpts& o);
  std::vector<KeyDoc>& out_;
  std::string prefix_;
};

/// Shortest decimal text that reads back to exactly `v`.
std::string format_double(double v);

}  // namespace pqlab::config
