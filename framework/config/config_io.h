// ConfigIo: one schema function per config struct, used to read it from YAML, dump it back
// (the resolved config stored in results) and explain it (`pqlab explain`). The LLVM YAMLTraits
// idiom: the schema is the mapping code itself, so parser, dump and docs cannot drift apart.
//
//   struct IntConfig {
//     int64_t bits = 4;
//     template <class IO> static void map(IO& io, IntConfig& c) {
//       io.field("bits", c.bits, "bit width", config::in_range(2, 8));
//     }
//   };
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "framework/core/error.h"

namespace pqlab {
struct Registries;
}

namespace pqlab::config {

/// Extra constraints on a field, checked when reading.
struct FieldOpts {
  bool required = false;
  bool has_range = false;
  double lo = 0, hi = 0;                 ///< inclusive
  std::vector<std::string> choices;      ///< for strings: the allowed values
};
inline FieldOpts required() { FieldOpts o; o.required = true; return o; }
inline FieldOpts in_range(double lo, double hi) {
  FieldOpts o; o.has_range = true; o.lo = lo; o.hi = hi; return o;
}
inline FieldOpts one_of(std::vector<std::string> c) { FieldOpts o; o.choices = std::move(c); return o; }
inline FieldOpts operator|(FieldOpts a, const FieldOpts& b) {
  a.required = a.required || b.required;
  if (b.has_range) { a.has_range = true; a.lo = b.lo; a.hi = b.hi; }
  if (!b.choices.empty()) a.choices = b.choices;
  return a;
}

/// Group size along the last axis: a positive count, or the whole row ("channel", per output
/// channel for weights / per token for activations), or the whole tensor ("tensor").
struct GroupSize {
  static constexpr int64_t kRow = 0;
  static constexpr int64_t kTensor = -1;
  int64_t value = kRow;
  GroupSize() = default;
  explicit GroupSize(int64_t v) : value(v) {}
  bool is_row() const { return value == kRow; }
  bool is_tensor() const { return value == kTensor; }
  std::string to_string() const;  ///< "16", "channel", "tensor"
};

/// Type-erased reference to a registered plugin chosen by name in the config.
class PluginSlot {
 public:
  virtual ~PluginSlot() = default;
  virtual const char* kind() const = 0;           ///< "format", "method", ...
  virtual const char* name_key() const = 0;       ///< key holding the name inside a mapping
  virtual std::vector<std::string> names() const = 0;  ///< registered names, sorted
  virtual std::string current_name() const = 0;   ///< "" when empty
  /// Creates the plugin `name` reading its keys from `io` (reader mode). Returns false on errors.
  virtual bool create(const std::string& name, class ConfigIo& io) = 0;
  /// Maps the existing plugin's config (write / explain mode).
  virtual void map_existing(class ConfigIo& io) = 0;
};

class ConfigIo {
 public:
  enum class Mode { read, write, explain };
  virtual ~ConfigIo() = default;
  virtual Mode mode() const = 0;
  bool reading() const { return mode() == Mode::read; }

  virtual void field(const char* key, bool& v, const char* help, FieldOpts o = {}) = 0;
  virtual void field(const char* key, int64_t& v, const char* help, FieldOpts o = {}) = 0;
  virtual void field(const char* key, double& v, const char* help, FieldOpts o = {}) = 0;
  virtual void field(const char* key, std::string& v, const char* help, FieldOpts o = {}) = 0;
  virtual void field(const char* key, GroupSize& v, const char* help, FieldOpts o = {}) = 0;
  virtual void field(const char* key, std::vector<std::string>& v, const char* help,
                     FieldOpts o = {}) = 0;
  virtual void field(const char* key, std::vector<int64_t>& v, const char* help,
                     FieldOpts o = {}) = 0;
  virtual void field(const char* key, std::vector<double>& v, const char* help,
                     FieldOpts o = {}) = 0;

  /// A nested struct with its own static map().
  template <class T, class = decltype(T::map(std::declval<ConfigIo&>(), std::declval<T&>()))>
  void field(const char* key, T& v, const char* help, FieldOpts o = {}) {
    nested(key, help, o, [&v](ConfigIo& io) { T::map(io, v); });
  }
  /// A list of nested structs.
  template <class T, class = decltype(T::map(std::declval<ConfigIo&>(), std::declval<T&>()))>
  void field(const char* key, std::vector<T>& v, const char* help, FieldOpts o = {}) {
    size_t n = v.size();
    elements(key, help, o, n, [&v](size_t i, ConfigIo& io) {
      if (v.size() <= i) v.resize(i + 1);
      T::map(io, v[i]);
    });
    v.resize(n);
  }

  /// A plugin chosen by name: `key: name` or `key: {<name_key>: name, ...plugin keys}`.
  virtual void plugin(const char* key, const char* help, FieldOpts o, PluginSlot& slot) = 0;
  /// A list of plugins.
  virtual void plugin_list(const char* key, const char* help, FieldOpts o,
                           const std::function<std::unique_ptr<PluginSlot>(size_t)>& slot_at,
                           size_t& count) = 0;

  virtual void nested(const char* key, const char* help, FieldOpts o,
                      const std::function<void(ConfigIo&)>& body) = 0;
  virtual void elements(const char* key, const char* help, FieldOpts o, size_t& count,
                        const std::function<void(size_t, ConfigIo&)>& body) = 0;

  /// Semantic check after reading: reports `message` at `key`'s value when !ok (reader only).
  virtual void check(bool ok, const char* key, const std::string& message) = 0;

  /// Registries for plugin lookup (reader mode); may be null elsewhere.
  virtual const Registries* registries() const = 0;
  /// Errors reported so far by this reader (0 for writers/explainers).
  virtual size_t error_count() const = 0;
  /// Where the mapping being read came from (reader mode; empty elsewhere), so that errors found
  /// later, e.g. once a model is loaded, can still point at the config line.
  virtual SourceLocation location() const { return {}; }

  // int fields map through int64_t so the schema may use plain int.
  void field(const char* key, int& v, const char* help, FieldOpts o = {}) {
    int64_t t = v;
    field(key, t, help, o);
    v = static_cast<int>(t);
  }
};

}  // namespace pqlab::config
