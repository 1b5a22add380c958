// Reads typed config structs from a config tree, tracking which keys the schema asked for so that
// every key nobody asked for is an error (with a did-you-mean), as LLVM's YAMLTraits does.
#pragma once
#include <memory>
#include <set>
#include <string>

#include "framework/config/config_io.h"
#include "framework/config/config_value.h"

namespace pqlab::config {

class ConfigReader final : public ConfigIo {
 public:
  /// node: the mapping to read (may be null = absent); context: how messages name this mapping,
  /// e.g. "experiment", "format 'int'"; parent: where to point "missing key" errors if node is null.
  ConfigReader(const Node* node, std::string context, ErrorList& errors, const Registries* registries,
               Origin parent = {});
  ~ConfigReader() override;

  Mode mode() const override { return Mode::read; }
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
  void check(bool ok, const char* key, const std::string& message) override;
  const Registries* registries() const override { return registries_; }
  size_t error_count() const override { return errors_.size(); }
  SourceLocation location() const override;

  /// Reports every key of the mapping that no field asked for. Called by the owner after map().
  void finish();
  /// Reads a plugin from `node` itself (a name scalar or a mapping with the name key).
  void plugin_here(const Node& node, PluginSlot& slot);

 private:
  const Node* get(const char* key, const FieldOpts& o, const char* type_desc);
  void error(const Node& at, const std::string& msg, std::vector<std::string> notes = {});
  std::string qualified(const char* key) const;

  const Node* node_;
  std::string context_;
  ErrorList& errors_;
  const Registries* registries_;
  Origin parent_;
  std::set<std::string> asked_;
  std::vector<std::string> asked_order_;
};

}  // namespace pqlab::config
