// A temporary folder for one test, removed afterwards; files written into it by name.
#pragma once
#include <fstream>
#include <string>

#include "framework/core/paths.h"

namespace pqlab::test {

class TempDir {
 public:
  TempDir() : path_(make_temp_directory("pqlab-test-")) {}
  ~TempDir() { remove_tree(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  /// Writes `text` to <dir>/<name> (creating sub-folders) and returns the full path.
  std::string write(const std::string& name, const std::string& text) const {
    const std::string p = file(name);
    create_directories(path_parent(p));
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

 private:
  std::string path_;
};

}  // namespace pqlab::test
