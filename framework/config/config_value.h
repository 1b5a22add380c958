// The configuration tree: YAML parsed once into nodes that remember which file, line and column
// each value came from (yaml-cpp marks carry no file name, and merging fragments mixes files).
// Only framework/config/ sees yaml-cpp; everything past it reads typed structs through ConfigIo.
#pragma once
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "framework/core/error.h"

namespace pqlab::config {

/// A loaded source file; shared by all nodes parsed from it.
struct SourceFile {
  std::string path;                  ///< as given (relative paths stay relative in messages)
  std::vector<std::string> lines;    ///< for the source line under each diagnostic
  std::vector<std::string> included_from;  ///< "file:line:col" chain, innermost first
};

struct Origin {
  std::shared_ptr<const SourceFile> file;  ///< null for values from the command line
  int line = 0;                            ///< 1-based; 0 = unknown
  int column = 0;
  int length = 1;
  std::string synthetic;                   ///< e.g. "--set method.bits=3" when file is null
  std::string via;                         ///< how a copied value was reached (alias, merge key)
};

struct Node {
  enum class Kind { null, scalar, map, seq };
  Kind kind = Kind::null;
  std::string scalar;                                ///< raw text for scalars
  bool quoted = false;                               ///< scalar was quoted: never a number/bool
  std::vector<std::pair<std::string, Node>> map;     ///< insertion order kept
  std::vector<Origin> key_origins;                   ///< parallel to map
  std::vector<Node> seq;
  Origin origin;

  const Node* find(const std::string& key) const;
  Node* find(const std::string& key);
  std::string kind_name() const;  ///< "mapping", "sequence", "scalar", "null"
};

/// Builds a diagnostic located at `o` (source line, caret, include notes).
Diagnostic make_diagnostic(const Origin& o, const std::string& message,
                           std::vector<std::string> notes = {});

/// Bounds on what a config may hold; each is a located error (exit 2) when exceeded. They keep
/// time and memory of config handling bounded whatever the input (see README, "Input limits").
constexpr size_t kMaxConfigFileBytes = 1u << 20;   ///< one YAML file (includes count separately)
constexpr int kMaxDepth = 64;                      ///< nesting of mappings and sequences in one file
constexpr size_t kMaxNodes = 1000000;              ///< values in one file, aliases expanded
constexpr size_t kMaxAliasNodes = 100000;          ///< values produced by alias copies in one file
constexpr int kMaxAliasDepth = 16;                 ///< aliases within anchors within anchors ...
constexpr int kMaxIncludeDepth = 32;               ///< include chains (a includes b includes c ...)

/// Collects config errors (first 20) and throws them together. An error already collected at the
/// same place with the same text (e.g. inside an anchor that several aliases copy) counts once.
class ErrorList {
 public:
  static constexpr size_t kMaxErrors = 20;
  void add(Diagnostic d);
  void add(const Origin& o, const std::string& message, std::vector<std::string> notes = {}) {
    add(make_diagnostic(o, message, std::move(notes)));
  }
  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  /// Throws ConfigError with everything collected, if anything was.
  void throw_if_any() const;

 private:
  std::vector<Diagnostic> diags_;
  std::set<std::string> seen_;
  size_t count_ = 0;
};

/// Parses YAML text (file name used for messages). Syntax errors, duplicate keys, recursive or
/// exploding aliases, nesting past kMaxDepth, unterminated quotes and a second document are
/// reported as located diagnostics into `errors`; returns a null node then. YAML 1.1 merge keys
/// (`<<: *base`) are applied, the merged values keeping their own locations.
Node parse_yaml(const std::string& text, std::shared_ptr<SourceFile> file, ErrorList& errors);

/// parse_yaml for either a file (`file` set) or a command-line value (`file` null: every node
/// gets `synthetic` as its origin). `empty` is set when the text holds no document at all.
Node parse_yaml_text(const std::string& text, const std::shared_ptr<const SourceFile>& file,
                     const Origin& synthetic, ErrorList& errors, bool& empty);

/// Loads `path`, resolving `include:` (a path or a list of paths) recursively: includes are merged
/// in order, then the file's own keys on top. Relative include paths are tried against the
/// including file's folder, then each of `search_dirs`. Cycles and missing files are errors.
Node load_config_file(const std::string& path, const std::vector<std::string>& search_dirs,
                      ErrorList& errors);

/// Deep merge: maps merge key by key, anything else in `top` replaces `base`.
void merge_into(Node& base, const Node& top);

/// Applies one "--set a.b.c=value" override (value parsed as a YAML flow scalar/sequence/map).
/// Sequence elements are addressed by index: "variants.0.method.name=rtn". `source` is how
/// messages name the override (default "--set <assignment>").
void apply_set(Node& root, const std::string& assignment, ErrorList& errors, const std::string& source = "");

/// Emits the tree as block-style YAML (keys in order).
std::string to_yaml(const Node& n);
/// Emits the tree on one line in flow style ("[16, 32]", "{name: int, bits: 4}", "identity"),
/// such that apply_set("key=" + text) reads it back as the same tree.
std::string to_flow_yaml(const Node& n);

/// Standard search folders for `include:`: the experiment's ../configs and the source tree's.
std::vector<std::string> default_search_dirs(const std::string& experiment_path);

}  // namespace pqlab::config
