// YAML text -> config Node tree, built from yaml-cpp's parser events rather than from YAML::Node.
//
// Why events: YAML::Load builds a node graph in which an alias is a shared pointer, so an alias
// inside its own anchor is a cycle and "aliases of aliases" are exponential once copied; its map
// nodes look keys up linearly (quadratic in the number of keys). Here every alias is resolved
// into a copy against a node budget, anchors still open cannot be referenced, nesting depth is
// bounded before any recursion of ours sees it, keys are indexed, YAML 1.1 merge keys are applied
// with their source locations, and a second document or an unterminated quote is an error.
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <cctype>
#include <map>
#include <sstream>
#include <unordered_map>

#include "framework/config/config_value.h"

namespace pqlab::config {
namespace {

// Thrown from the event handler to stop yaml-cpp at the first limit hit (its own depth guard
// would fire only at 500 levels, with the unhelpful message "bad file").
struct LimitHit {
  YAML::Mark mark;
  std::string message;
};

Origin origin_at(const std::shared_ptr<const SourceFile>& f, const Origin& synthetic, const YAML::Mark& m,
                 int length) {
  if (!f) return synthetic;
  Origin o;
  o.file = f;
  if (m.is_null()) return o;
  o.line = m.line + 1;  // yaml-cpp marks are 0-based
  o.column = m.column + 1;
  o.length = length;
  return o;
}

std::string where(const Origin& o) {
  if (!o.file) return o.synthetic;
  return o.file->path + ":" + std::to_string(o.line) + ":" + std::to_string(o.column);
}

size_t subtree_size(const Node& n) {
  size_t s = 1;
  for (const auto& kv : n.map) s += subtree_size(kv.second);
  for (const auto& e : n.seq) s += subtree_size(e);
  return s;
}

// Notes where a copied node was reached from; the innermost route is kept.
void stamp_via(Node& n, const std::string& via) {
  if (n.origin.via.empty()) n.origin.via = via;
  for (auto& ko : n.key_origins)
    if (ko.via.empty()) ko.via = via;
  for (auto& kv : n.map) stamp_via(kv.second, via);
  for (auto& e : n.seq) stamp_via(e, via);
}

class TreeBuilder final : public YAML::EventHandler {
 public:
  TreeBuilder(const std::string& text, std::shared_ptr<const SourceFile> file, Origin synthetic,
              ErrorList& errors)
      : text_(text), file_(std::move(file)), synthetic_(std::move(synthetic)), errors_(errors) {}

  Node take() { return std::move(root_); }
  bool has_root() const { return has_root_; }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}

  void OnAnchor(const YAML::Mark&, const std::string& name) override { pending_anchor_name_ = name; }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Node n;
    n.origin = origin_at(file_, synthetic_, mark, 1);
    finish_node(std::move(n), anchor, 1, 0);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    Node n;
    n.kind = Node::Kind::scalar;
    n.scalar = value;
    n.quoted = tag == "!";  // yaml-cpp's non-specific tag for quoted scalars; plain ones get "?"
    n.origin = origin_at(file_, synthetic_, mark, static_cast<int>(value.size()) + (n.quoted ? 2 : 0));
    if (n.quoted) check_quote_closed(mark);
    finish_node(std::move(n), anchor, 1, 0);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    const Origin at = origin_at(file_, synthetic_, mark, 1);
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) {
      // yaml-cpp numbers an anchor when its node starts: a missing entry is an anchor still open.
      const auto open = open_anchor_names_.find(anchor);
      const std::string name = open == open_anchor_names_.end() ? "?" : open->second;
      throw LimitHit{mark, "alias '*" + name + "' is used inside its own anchor '&" + name +
                               "' (a recursive value); YAML allows it, a config cannot hold it"};
    }
    const Anchored& a = it->second;
    if (a.alias_depth + 1 > kMaxAliasDepth)
      throw LimitHit{mark, "aliases nest more than " + std::to_string(kMaxAliasDepth) +
                               " deep (an alias whose anchor holds aliases whose anchors hold aliases ...)"};
    alias_nodes_ += a.size;
    if (alias_nodes_ > kMaxAliasNodes)
      throw LimitHit{mark, "aliases expand to more than " + std::to_string(kMaxAliasNodes) +
                               " values (an alias 'bomb'?)"};
    Node copy = a.node;
    stamp_via(copy, "reached through alias '*" + a.name + "' at " + where(at));
    finish_node(std::move(copy), YAML::NullAnchor, a.size, a.alias_depth + 1, /*is_alias=*/true, a.name);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor, Node::Kind::seq);
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, anchor, Node::Kind::map);
  }
  void OnMapEnd() override {
    apply_merges(frames_.back());
    close();
  }

 private:
  struct Anchored {
    Node node;
    size_t size = 1;
    int alias_depth = 0;  ///< how many alias levels the anchored value itself contains
    std::string name;
  };
  struct MergeSource {
    Node node;
    Origin at;  ///< the '<<' key
  };
  struct Frame {
    Node node;
    YAML::anchor_t anchor = YAML::NullAnchor;
    std::string anchor_name;
    size_t size = 1;
    int alias_depth = 0;
    bool expecting_key = true;  // maps only
    bool key_valid = false;
    bool key_is_merge = false;
    std::string key;
    Origin key_origin;
    std::unordered_map<std::string, size_t> index;
    std::vector<MergeSource> merges;
  };

  void open(const YAML::Mark& mark, YAML::anchor_t anchor, Node::Kind kind) {
    if (frames_.size() + 1 > static_cast<size_t>(kMaxDepth))
      throw LimitHit{mark, "values nest more than " + std::to_string(kMaxDepth) + " levels deep"};
    Frame f;
    f.node.kind = kind;
    f.node.origin = origin_at(file_, synthetic_, mark, 1);
    f.anchor = anchor;
    f.anchor_name = std::move(pending_anchor_name_);
    pending_anchor_name_.clear();
    if (anchor != YAML::NullAnchor) open_anchor_names_[anchor] = f.anchor_name;
    count_nodes(1, mark);
    frames_.push_back(std::move(f));
  }

  void close() {
    Frame f = std::move(frames_.back());
    frames_.pop_back();
    if (f.anchor != YAML::NullAnchor) open_anchor_names_.erase(f.anchor);
    // Already counted at open(); size is passed on so enclosing anchors know their copy cost.
    attach(std::move(f.node), f.anchor, f.anchor_name, f.size, f.alias_depth, false, "");
  }

  void finish_node(Node n, YAML::anchor_t anchor, size_t size, int alias_depth, bool is_alias = false,
                   const std::string& alias_name = "") {
    if (!is_alias) count_nodes(1, YAML::Mark::null_mark());
    else count_nodes(size, YAML::Mark::null_mark());
    std::string name = std::move(pending_anchor_name_);
    pending_anchor_name_.clear();
    attach(std::move(n), anchor, name, size, alias_depth, is_alias, alias_name);
  }

  void count_nodes(size_t k, const YAML::Mark& mark) {
    nodes_ += k;
    if (nodes_ > kMaxNodes)
      throw LimitHit{mark, "more than " + std::to_string(kMaxNodes) + " values in one config (aliases expanded)"};
  }

  void attach(Node n, YAML::anchor_t anchor, const std::string& anchor_name, size_t size, int alias_depth,
              bool is_alias, const std::string& alias_name) {
    if (anchor != YAML::NullAnchor) anchors_[anchor] = Anchored{n, size, alias_depth, anchor_name};
    if (frames_.empty()) {
      root_ = std::move(n);
      has_root_ = true;
      return;
    }
    Frame& p = frames_.back();
    p.size += size;
    p.alias_depth = std::max(p.alias_depth, alias_depth);
    if (p.node.kind == Node::Kind::seq) {
      p.node.seq.push_back(std::move(n));
      return;
    }
    if (p.expecting_key) {
      p.expecting_key = false;
      p.key_origin = n.origin;
      p.key_valid = n.kind == Node::Kind::scalar;
      p.key_is_merge = p.key_valid && !n.quoted && !is_alias && n.scalar == "<<";
      p.key = n.scalar;
      if (!p.key_valid) errors_.add(n.origin, "mapping keys must be plain scalars, got " + n.kind_name());
      (void)alias_name;
      return;
    }
    p.expecting_key = true;
    if (!p.key_valid) return;
    if (p.key_is_merge) {
      add_merge(p, std::move(n));
      return;
    }
    const auto [it, fresh] = p.index.emplace(p.key, p.node.map.size());
    if (!fresh) {
      errors_.add(p.key_origin, "duplicate key '" + p.key + "'",
                  {"first defined at " + where(p.node.key_origins[it->second])});
      return;
    }
    p.node.map.emplace_back(p.key, std::move(n));
    p.node.key_origins.push_back(p.key_origin);
  }

  // YAML 1.1 merge key: `<<: *base` or `<<: [*a, *b]` (earlier sources win, explicit keys win over
  // all of them, wherever they stand in the mapping).
  void add_merge(Frame& p, Node value) {
    const Origin at = p.key_origin;
    auto add_one = [&](Node v) {
      if (v.kind != Node::Kind::map) {
        errors_.add(v.origin, "'<<' (merge key) takes a mapping or a list of mappings, got " + v.kind_name());
        return;
      }
      p.merges.push_back({std::move(v), at});
    };
    if (value.kind == Node::Kind::seq) {
      for (auto& e : value.seq) add_one(std::move(e));
    } else {
      add_one(std::move(value));
    }
  }

  void apply_merges(Frame& f) {
    for (auto& m : f.merges) {
      stamp_via(m.node, "merged by '<<' at " + where(m.at));
      for (size_t i = 0; i < m.node.map.size(); ++i) {
        auto& kv = m.node.map[i];
        if (!f.index.emplace(kv.first, f.node.map.size()).second) continue;
        f.node.map.emplace_back(kv.first, std::move(kv.second));
        f.node.key_origins.push_back(m.node.key_origins[i]);
      }
    }
    f.merges.clear();
  }

  // yaml-cpp accepts a quoted scalar left open at the end of the file if a line break follows the
  // quote (the value then ends in a space). Find the opening quote after any properties (&anchor,
  // !tag) and look for its closing quote in the text.
  void check_quote_closed(const YAML::Mark& mark) {
    if (mark.is_null() || mark.pos < 0) return;
    size_t p = static_cast<size_t>(mark.pos);
    while (p < text_.size() && (text_[p] == '&' || text_[p] == '!')) {
      while (p < text_.size() && !std::isspace(static_cast<unsigned char>(text_[p]))) ++p;
      while (p < text_.size() && std::isspace(static_cast<unsigned char>(text_[p]))) ++p;
    }
    if (p >= text_.size() || (text_[p] != '"' && text_[p] != '\'')) return;
    const char q = text_[p];
    for (size_t i = p + 1; i < text_.size(); ++i) {
      if (q == '"' && text_[i] == '\\') {
        ++i;
      } else if (text_[i] == q) {
        if (q == '\'' && i + 1 < text_.size() && text_[i + 1] == '\'') {
          ++i;  // '' is an escaped quote inside single quotes
          continue;
        }
        return;
      }
    }
    throw LimitHit{mark, std::string("unterminated quoted string (no closing ") + q + ")"};
  }

  const std::string& text_;
  std::shared_ptr<const SourceFile> file_;
  Origin synthetic_;
  ErrorList& errors_;
  std::vector<Frame> frames_;
  std::map<YAML::anchor_t, Anchored> anchors_;
  std::map<YAML::anchor_t, std::string> open_anchor_names_;
  std::string pending_anchor_name_;
  size_t nodes_ = 0;
  size_t alias_nodes_ = 0;
  Node root_;
  bool has_root_ = false;
};

// Catches the second-document start without building it.
class DocumentProbe final : public YAML::EventHandler {
 public:
  YAML::Mark mark = YAML::Mark::null_mark();
  void OnDocumentStart(const YAML::Mark& m) override {
    mark = m;
    throw this;  // stop: nothing of the second document is needed
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

}  // namespace

Node parse_yaml_text(const std::string& text, const std::shared_ptr<const SourceFile>& file,
                     const Origin& synthetic, ErrorList& errors, bool& empty) {
  empty = false;
  auto error_at = [&](const YAML::Mark& m, const std::string& msg) {
    errors.add(origin_at(file, synthetic, m, 1), msg);
  };
  std::istringstream in(text);
  try {
    YAML::Parser parser(in);
    TreeBuilder builder(text, file, synthetic, errors);
    if (!parser.HandleNextDocument(builder) || !builder.has_root()) {
      empty = true;
      return {};
    }
    DocumentProbe probe;
    try {
      if (parser.HandleNextDocument(probe)) {
        error_at(probe.mark, "a config file holds one YAML document; a second one starts here");
        return {};
      }
    } catch (DocumentProbe*) {
      error_at(probe.mark, "a config file holds one YAML document; a second one starts here");
      return {};
    }
    return builder.take();
  } catch (const LimitHit& hit) {
    error_at(hit.mark, hit.message);
  } catch (const YAML::Exception& ex) {
    error_at(ex.mark, "invalid YAML: " + ex.msg);
  }
  return {};
}

}  // namespace pqlab::config
