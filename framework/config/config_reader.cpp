#include "framework/config/config_reader.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "framework/core/excerpt.h"
#include "framework/core/spellcheck.h"

namespace pqlab::config {

std::string GroupSize::to_string() const {
  if (value == kRow) return "channel";
  if (value == kTensor) return "tensor";
  return std::to_string(value);
}

namespace {

std::string fmt_num(double v) {
  std::ostringstream os;
  os.precision(15);
  os << v;
  return os.str();
}

std::string range_text(const FieldOpts& o) {
  return o.has_range ? " in [" + fmt_num(o.lo) + ", " + fmt_num(o.hi) + "]" : "";
}

bool parse_int(const std::string& s, int64_t& out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (*end || errno == ERANGE) return false;
  out = v;
  return true;
}

bool parse_double(const std::string& s, double& out) {
  if (s.empty()) return false;
  if (s == ".inf" || s == ".Inf") { out = INFINITY; return true; }
  if (s == "-.inf" || s == "-.Inf") { out = -INFINITY; return true; }
  if (s == ".nan" || s == ".NaN") { out = NAN; return true; }
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (*end) return false;
  // strtod also takes "inf"/"nan"/hex, which YAML does not mean as numbers.
  if (s.find_first_of("xXiInN") != std::string::npos) return false;
  out = v;
  return true;
}

bool parse_bool(const std::string& s, bool& out) {
  if (s == "true" || s == "True" || s == "TRUE") { out = true; return true; }
  if (s == "false" || s == "False" || s == "FALSE") { out = false; return true; }
  return false;
}

std::string plural(const char* kind) { return std::string(kind) + "s"; }

}  // namespace

ConfigReader::ConfigReader(const Node* node, std::string context, ErrorList& errors,
                           const Registries* registries, Origin parent)
    : node_(node && node->kind != Node::Kind::null ? node : nullptr),
      context_(std::move(context)),
      errors_(errors),
      registries_(registries),
      parent_(std::move(parent)) {
  if (node_ && node_->kind != Node::Kind::map) {
    errors_.add(node_->origin, context_ + " must be a mapping, got " + node_->kind_name());
    node_ = nullptr;
  }
}

ConfigReader::~ConfigReader() = default;

void ConfigReader::error(const Node& at, const std::string& msg, std::vector<std::string> notes) {
  errors_.add(at.origin, msg, std::move(notes));
}

std::string ConfigReader::qualified(const char* key) const { return std::string("'") + key + "'"; }

const Node* ConfigReader::get(const char* key, const FieldOpts& o, const char* type_desc) {
  if (!asked_.count(key)) {
    asked_.insert(key);
    asked_order_.push_back(key);
  }
  const Node* n = node_ ? node_->find(key) : nullptr;
  if (n && n->kind == Node::Kind::null) {
    if (o.required) error(*n, qualified(key) + " needs a value (" + type_desc + ")");
    return nullptr;
  }
  if (!n && o.required) {
    const Origin& at = node_ ? node_->origin : parent_;
    errors_.add(at, "missing required key " + qualified(key) + " in " + context_,
                {std::string("expected ") + type_desc});
  }
  return n;
}

void ConfigReader::field(const char* key, bool& v, const char* help, FieldOpts o) {
  const Node* n = get(key, o, "true or false");
  if (!n) return;
  if (n->kind != Node::Kind::scalar || n->quoted || !parse_bool(n->scalar, v))
    error(*n, qualified(key) + " must be a boolean (true or false), got " +
                  (n->kind == Node::Kind::scalar ? "'" + excerpt(n->scalar) + "'" : n->kind_name()));
}

void ConfigReader::field(const char* key, int64_t& v, const char* help, FieldOpts o) {
  const Node* n = get(key, o, "an integer");
  if (!n) return;
  int64_t x = 0;
  if (n->kind != Node::Kind::scalar || n->quoted || !parse_int(n->scalar, x)) {
    error(*n, qualified(key) + " must be an integer" + range_text(o) + ", got " +
                  (n->kind == Node::Kind::scalar ? "'" + excerpt(n->scalar) + "'" : n->kind_name()));
    return;
  }
  if (o.has_range && (x < o.lo || x > o.hi)) {
    error(*n, qualified(key) + " must be an integer" + range_text(o) + ", got '" + excerpt(n->scalar) + "'");
    return;
  }
  v = x;
}

void ConfigReader::field(const char* key, double& v, const char* help, FieldOpts o) {
  const Node* n = get(key, o, "a number");
  if (!n) return;
  double x = 0;
  if (n->kind != Node::Kind::scalar || n->quoted || !parse_double(n->scalar, x)) {
    error(*n, qualified(key) + " must be a number" + range_text(o) + ", got " +
                  (n->kind == Node::Kind::scalar ? "'" + excerpt(n->scalar) + "'" : n->kind_name()));
    return;
  }
  if (o.has_range && !(x >= o.lo && x <= o.hi)) {
    error(*n, qualified(key) + " must be a number" + range_text(o) + ", got '" + excerpt(n->scalar) + "'");
    return;
  }
  v = x;
}

void ConfigReader::field(const char* key, std::string& v, const char* help, FieldOpts o) {
  const Node* n = get(key, o, o.choices.empty() ? "a string" : ("one of " + join(o.choices)).c_str());
  if (!n) return;
  if (n->kind != Node::Kind::scalar) {
    error(*n, qualified(key) + " must be a string, got " + n->kind_name());
    return;
  }
  if (!o.choices.empty() &&
      std::find(o.choices.begin(), o.choices.end(), n->scalar) == o.choices.end()) {
    std::vector<std::string> notes;
    const std::string guess = closest_match(n->scalar, o.choices);
    if (!guess.empty()) notes.push_back("did you mean '" + guess + "'?");
    error(*n, qualified(key) + " must be one of " + join(o.choices) + ", got '" + excerpt(n->scalar) + "'", notes);
    return;
  }
  v = n->scalar;
}

void ConfigReader::field(const char* key, GroupSize& v, const char* help, FieldOpts o) {
  const Node* n = get(key, o, "a positive integer, 'channel' or 'tensor'");
  if (!n) return;
  int64_t x = 0;
  const std::string desc = qualified(key) + " must be a positive integer, 'channel' or 'tensor', got ";
  if (n->kind != Node::Kind::scalar) {
    error(*n, desc + n->kind_name());
  } else if (n->scalar == "channel" || n->scalar == "row" || n->scalar == "token") {
    v = GroupSize(GroupSize::kRow);
  } else if (n->scalar == "tensor") {
    v = GroupSize(GroupSize::kTensor);
  } else if (!parse_int(n->scalar, x) || x <= 0) {
    error(*n, desc + "'" + excerpt(n->scalar) + "'");
  } else if (o.has_range && (x < o.lo || x > o.hi)) {
    error(*n, qualified(key) + " must be in" + range_text(o) + ", got '" + excerpt(n->scalar) + "'");
  } else {
    v = GroupSize(x);
  }
}

namespace {
template <class T, class Parse>
void read_list(ConfigReader& r, const Node* n, const char* key, std::vector<T>& v, const char* what,
               Parse parse, ErrorList& errors) {
  if (!n) return;
  std::vector<const Node*> items;
  if (n->kind == Node::Kind::scalar) items.push_back(n);
  else if (n->kind == Node::Kind::seq)
    for (const auto& e : n->seq) items.push_back(&e);
  else {
    errors.add(n->origin, std::string("'") + key + "' must be a list of " + what + ", got " + n->kind_name());
    return;
  }
  std::vector<T> out;
  for (const Node* e : items) {
    T x{};
    if (e->kind != Node::Kind::scalar || !parse(*e, x)) {
      errors.add(e->origin, std::string("'") + key + "' entries must be " + what + ", got " +
                                (e->kind == Node::Kind::scalar ? "'" + excerpt(e->scalar) + "'" : e->kind_name()));
      continue;
    }
    out.push_back(x);
  }
  v = out;
}
}  // namespace

void ConfigReader::field(const char* key, std::vector<std::string>& v, const char* help, FieldOpts o) {
  read_list(*this, get(key, o, "a list of strings"), key, v, "strings",
            [](const Node& e, std::string& x) { x = e.scalar; return true; }, errors_);
}
void ConfigReader::field(const char* key, std::vector<int64_t>& v, const char* help, FieldOpts o) {
  read_list(*this, get(key, o, "a list of integers"), key, v, "integers",
            [](const Node& e, int64_t& x) { return !e.quoted && parse_int(e.scalar, x); }, errors_);
}
void ConfigReader::field(const char* key, std::vector<double>& v, const char* help, FieldOpts o) {
  read_list(*this, get(key, o, "a list of numbers"), key, v, "numbers",
            [](const Node& e, double& x) { return !e.quoted && parse_double(e.scalar, x); }, errors_);
}

void ConfigReader::plugin_here(const Node& n, PluginSlot& slot) {
  const Node* name_node = nullptr;
  const Node* body = nullptr;
  if (n.kind == Node::Kind::scalar) {
    name_node = &n;
  } else if (n.kind == Node::Kind::map) {
    name_node = n.find(slot.name_key());
    body = &n;
    if (!name_node || name_node->kind != Node::Kind::scalar) {
      errors_.add(name_node ? name_node->origin : n.origin,
                  std::string("missing required key '") + slot.name_key() + "' (the " + slot.kind() + " to use)",
                  {"registered " + plural(slot.kind()) + ": " + join(slot.names())});
      return;
    }
  } else {
    errors_.add(n.origin, std::string("expected a ") + slot.kind() + " name or a mapping with '" +
                              slot.name_key() + "', got " + n.kind_name());
    return;
  }
  const std::string name = name_node->scalar;
  const auto names = slot.names();
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    std::string msg = std::string("unknown ") + slot.kind() + " '" + name + "'";
    const std::string guess = closest_match(name, names);
    if (!guess.empty()) msg += "; did you mean '" + guess + "'?";
    errors_.add(name_node->origin, msg, {"registered " + plural(slot.kind()) + ": " + join(names)});
    return;
  }
  ConfigReader sub(body, std::string(slot.kind()) + " '" + name + "'", errors_, registries_, n.origin);
  sub.asked_.insert(slot.name_key());
  slot.create(name, sub);
  sub.finish();
}

void ConfigReader::plugin(const char* key, const char* help, FieldOpts o, PluginSlot& slot) {
  const Node* n = get(key, o, (std::string("a ") + slot.kind() + " name or mapping").c_str());
  if (n) {
    plugin_here(*n, slot);
    return;
  }
  // Absent key: a slot that names a default plugin builds it with its default config.
  const std::string def = slot.current_name();
  const auto names = slot.names();  // empty without registries
  if (def.empty() || std::find(names.begin(), names.end(), def) == names.end()) return;
  ConfigReader sub(nullptr, std::string(slot.kind()) + " '" + def + "'", errors_, registries_,
                   node_ ? node_->origin : parent_);
  slot.create(def, sub);
  sub.finish();
}

void ConfigReader::plugin_list(const char* key, const char* help, FieldOpts o,
                               const std::function<std::unique_ptr<PluginSlot>(size_t)>& slot_at,
                               size_t& count) {
  const Node* n = get(key, o, "a list of plugins");
  if (!n) return;
  std::vector<const Node*> items;
  if (n->kind == Node::Kind::seq)
    for (const auto& e : n->seq) items.push_back(&e);
  else
    items.push_back(n);
  count = items.size();
  for (size_t i = 0; i < items.size(); ++i) {
    auto slot = slot_at(i);
    plugin_here(*items[i], *slot);
  }
}

void ConfigReader::nested(const char* key, const char* help, FieldOpts o,
                          const std::function<void(ConfigIo&)>& body) {
  const Node* n = get(key, o, "a mapping");
  ConfigReader sub(n, qualified(key), errors_, registries_, node_ ? node_->origin : parent_);
  body(sub);
  sub.finish();
}

void ConfigReader::elements(const char* key, const char* help, FieldOpts o, size_t& count,
                            const std::function<void(size_t, ConfigIo&)>& body) {
  const Node* n = get(key, o, "a list of mappings");
  if (!n) return;
  if (n->kind != Node::Kind::seq) {
    error(*n, qualified(key) + " must be a list, got " + n->kind_name());
    return;
  }
  count = n->seq.size();
  for (size_t i = 0; i < n->seq.size(); ++i) {
    ConfigReader sub(&n->seq[i], std::string(key) + "[" + std::to_string(i) + "]", errors_, registries_,
                     n->origin);
    body(i, sub);
    sub.finish();
  }
}

void ConfigReader::check(bool ok, const char* key, const std::string& message) {
  if (ok) return;
  const Node* n = node_ ? node_->find(key) : nullptr;
  errors_.add(n ? n->origin : (node_ ? node_->origin : parent_), message);
}

SourceLocation ConfigReader::location() const {
  return make_diagnostic(node_ ? node_->origin : parent_, "").loc;
}

void ConfigReader::finish() {
  if (!node_) return;
  std::vector<std::string> valid(asked_.begin(), asked_.end());
  for (size_t i = 0; i < node_->map.size(); ++i) {
    const std::string& k = node_->map[i].first;
    if (asked_.count(k) || k.rfind("x_", 0) == 0) continue;
    std::vector<std::string> notes;
    const std::string guess = closest_match(k, valid);
    if (!guess.empty()) notes.push_back("did you mean '" + guess + "'?");
    notes.push_back("valid keys: " + join(valid) + " (keys starting with x_ are free-form notes)");
    errors_.add(node_->key_origins[i], "unknown key '" + k + "' in " + context_, notes);
  }
}

}  // namespace pqlab::config
