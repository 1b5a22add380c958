// Path and directory helpers on plain strings over POSIX calls.
// Written by hand instead of using std::filesystem because PyTorch 2.x libtorch (the pip/CUDA
// build on the GPU machine) exports its own copy of the std::filesystem symbols from an older
// libstdc++; binaries linked against it bind to those and crash in temp_directory_path(),
// remove_all() and directory_iterator. Nothing in pqlab may use std::filesystem.
#pragma once
#include <string>
#include <vector>

namespace pqlab {

bool path_is_absolute(const std::string& p);
/// a/b; b when b is absolute; b when a is empty.
std::string path_join(const std::string& a, const std::string& b);
/// Lexical parent ("" for a bare file name, "/" for "/x").
std::string path_parent(const std::string& p);
/// File name without its last extension ("exp" for "dir/exp.yaml").
std::string path_stem(const std::string& p);
/// Whether `s` can name a file inside an output folder and nothing else: 1 to 128 characters,
/// only letters, digits, '_', '.' and '-', and neither "." nor "..". No '/' means no path can
/// leave the folder. Config values that become file names (the experiment name, variant labels)
/// are checked with this; the rule's text for messages is kPlainFileStemRule.
bool is_plain_file_stem(const std::string& s);
constexpr const char* kPlainFileStemRule =
    "1 to 128 letters, digits, '_', '.' or '-', and not '.' or '..'";
/// Removes "." and "x/.." components and repeated slashes, lexically.
std::string path_normal(const std::string& p);
/// realpath() when the file exists, else the absolute lexical form.
std::string path_canonical(const std::string& p);

bool path_exists(const std::string& p);
bool is_regular_file(const std::string& p);
/// A data file named in a config: `p` itself when absolute or present relative to the working
/// directory, else `p` under the pqlab source tree when present there (the shipped models, e.g.
/// models/fmnist/flux_fmnist.safetensors, so experiments run from any folder), else `p` unchanged
/// (the caller's error then names it).
std::string resolve_data_path(const std::string& p);
/// mkdir -p. Throws RuntimeError naming the path on failure.
void create_directories(const std::string& p);
/// Entry names (not paths) of a directory, sorted; throws RuntimeError if unreadable.
std::vector<std::string> list_directory(const std::string& p);
/// rm -rf; ignores a missing path.
void remove_tree(const std::string& p);
/// A new empty directory under $TMPDIR (or /tmp) whose name starts with `prefix`.
std::string make_temp_directory(const std::string& prefix);

}  // namespace pqlab
