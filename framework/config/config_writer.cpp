#include "framework/config/config_writer.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "framework/core/spellcheck.h"
#include "framework/core/text.h"

namespace pqlab::config {

std::string format_double(double v) {
  // YAML's spellings of the special values; the rest as everywhere (framework/core/text.h).
  if (std::isnan(v)) return ".nan";
  if (std::isinf(v)) return v > 0 ? ".inf" : "-.inf";
  return pqlab::format_double(v);
}

namespace {
Node scalar(std::string s, bool quoted = false) {
  Node n;
  n.kind = Node::Kind::scalar;
  n.scalar = std::move(s);
  n.quoted = quoted;
  return n;
}
// Strings that YAML would read back as something else keep their quotes.
bool needs_quotes(const std::string& s) {
  if (s.empty()) return true;
  static const char* special[] = {"true", "false", "True", "False", "TRUE", "FALSE", "null", "~", "yes", "no"};
  for (const char* w : special)
    if (s == w) return true;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return *end == '\0';
}
template <class T, class F>
Node seq_of(const std::vector<T>& v, F f) {
  Node n;
  n.kind = Node::Kind::seq;
  for (const auto& x : v) n.seq.push_back(scalar(f(x)));
  return n;
}
}  // namespace

Node& ConfigWriter::add(const char* key) {
  out_.map.emplace_back(key, Node{});
  out_.key_origins.emplace_back();
  return out_.map.back().second;
}

void ConfigWriter::field(const char* key, bool& v, const char*, FieldOpts) { add(key) = scalar(v ? "true" : "false"); }
void ConfigWriter::field(const char* key, int64_t& v, const char*, FieldOpts) { add(key) = scalar(std::to_string(v)); }
void ConfigWriter::field(const char* key, double& v, const char*, FieldOpts) { add(key) = scalar(format_double(v)); }
void ConfigWriter::field(const char* key, std::string& v, const char*, FieldOpts) {
  add(key) = scalar(v, needs_quotes(v));
}
void ConfigWriter::field(const char* key, GroupSize& v, const char*, FieldOpts) { add(key) = scalar(v.to_string()); }
void ConfigWriter::field(const char* key, std::vector<std::string>& v, const char*, FieldOpts) {
  Node n;
  n.kind = Node::Kind::seq;
  for (const auto& s : v) n.seq.push_back(scalar(s, needs_quotes(s)));
  add(key) = n;
}
void ConfigWriter::field(const char* key, std::vector<int64_t>& v, const char*, FieldOpts) {
  add(key) = seq_of(v, [](int64_t x) { return std::to_string(x); });
}
void ConfigWriter::field(const char* key, std::vector<double>& v, const char*, FieldOpts) {
  add(key) = seq_of(v, [](double x) { return format_double(x); });
}

void ConfigWriter::write_plugin(Node& out, PluginSlot& slot) {
  out = Node{};
  ConfigWriter w(out);
  std::string name = slot.current_name();
  w.field(slot.name_key(), name, "", {});
  slot.map_existing(w);
}

void ConfigWriter::plugin(const char* key, const char*, FieldOpts, PluginSlot& slot) {
  if (slot.current_name().empty()) return;
  write_plugin(add(key), slot);
}

void ConfigWriter::plugin_list(const char* key, const char*, FieldOpts,
                               const std::function<std::unique_ptr<PluginSlot>(size_t)>& slot_at,
                               size_t& count) {
  Node& n = add(key);
  n.kind = Node::Kind::seq;
  for (size_t i = 0; i < count; ++i) {
    n.seq.emplace_back();
    write_plugin(n.seq.back(), *slot_at(i));
  }
}

void ConfigWriter::nested(const char* key, const char*, FieldOpts, const std::function<void(ConfigIo&)>& body) {
  Node& n = add(key);
  ConfigWriter w(n);
  body(w);
}

void ConfigWriter::elements(const char* key, const char*, FieldOpts, size_t& count,
                            const std::function<void(size_t, ConfigIo&)>& body) {
  Node& n = add(key);
  n.kind = Node::Kind::seq;
  for (size_t i = 0; i < count; ++i) {
    n.seq.emplace_back();
    ConfigWriter w(n.seq.back());
    body(i, w);
  }
}

void ConfigExplainer::row(const char* key, std::string type, std::string def, const char* help,
                          const FieldOpts& o) {
  KeyDoc d;
  d.key = prefix_ + key;
  auto num = [](double v) {
    return v == static_cast<double>(static_cast<int64_t>(v)) && std::fabs(v) < 1e15
               ? std::to_string(static_cast<int64_t>(v)) : format_double(v);
  };
  if (o.has_range) type += " in [" + num(o.lo) + ", " + num(o.hi) + "]";
  if (!o.choices.empty()) type += " (" + join(o.choices, "|") + ")";
  d.type = std::move(type);
  d.default_value = o.required ? "(required)" : std::move(def);
  d.help = help ? help : "";
  d.required = o.required;
  out_.push_back(std::move(d));
}

void ConfigExplainer::field(const char* key, bool& v, const char* h, FieldOpts o) { row(key, "bool", v ? "true" : "false", h, o); }
void ConfigExplainer::field(const char* key, int64_t& v, const char* h, FieldOpts o) { row(key, "int", std::to_string(v), h, o); }
void ConfigExplainer::field(const char* key, double& v, const char* h, FieldOpts o) { row(key, "float", format_double(v), h, o); }
void ConfigExplainer::field(const char* key, std::string& v, const char* h, FieldOpts o) {
  row(key, "string", v.empty() ? "\"\"" : v, h, o);
}
void ConfigExplainer::field(const char* key, GroupSize& v, const char* h, FieldOpts o) {
  row(key, "group size (int > 0 | channel | tensor)", v.to_string(), h, o);
}
void ConfigExplainer::field(const char* key, std::vector<std::string>& v, const char* h, FieldOpts o) {
  row(key, "list of strings", "[" + join(v) + "]", h, o);
}
void ConfigExplainer::field(const char* key, std::vector<int64_t>& v, const char* h, FieldOpts o) {
  std::vector<std::string> s;
  for (auto x : v) s.push_back(std::to_string(x));
  row(key, "list of ints", "[" + join(s) + "]", h, o);
}
void ConfigExplainer::field(const char* key, std::vector<double>& v, const char* h, FieldOpts o) {
  std::vector<std::string> s;
  for (auto x : v) s.push_back(format_double(x));
  row(key, "list of floats", "[" + join(s) + "]", h, o);
}
void ConfigExplainer::plugin(const char* key, const char* h, FieldOpts o, PluginSlot& slot) {
  const std::string def = slot.current_name().empty() ? "" : slot.current_name();
  row(key, std::string(slot.kind()) + " (name or {" + slot.name_key() + ": ..., ...})", def, h, o);
}
void ConfigExplainer::plugin_list(const char* key, const char* h, FieldOpts o,
                                  const std::function<std::unique_ptr<PluginSlot>(size_t)>& slot_at,
                                  size_t& count) {
  std::vector<std::string> names;
  for (size_t i = 0; i < count; ++i) names.push_back(slot_at(i)->current_name());
  auto slot = slot_at(count);  // an empty slot just for its kind
  count = names.size();
  row(key, std::string("list of ") + slot->kind() + "s", "[" + join(names) + "]", h, o);
}
void ConfigExplainer::nested(const char* key, const char* h, FieldOpts o, const std::function<void(ConfigIo&)>& body) {
  row(key, "mapping", "", h, o);
  ConfigExplainer sub(out_, prefix_ + key + ".");
  body(sub);
}
void ConfigExplainer::elements(const char* key, const char* h, FieldOpts o, size_t& count,
                               const std::function<void(size_t, ConfigIo&)>& body) {
  row(key, "list of mappings", "", h, o);
  ConfigExplainer sub(out_, prefix_ + key + "[].");
  body(0, sub);
  count = 1;
}

}  // namespace pqlab::config
