// Helpers shared by the libFuzzer targets: a per-process scratch folder and multi-part inputs.
// A target's input may hold several files separated by a line that is exactly "#---" (a YAML
// comment, so a plain config file is a valid one-part input).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>
#include <vector>

#include "framework/core/paths.h"

namespace pqlab::fuzz {

/// A scratch folder for this process (removed at exit); targets overwrite their files in it.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    std::string d = make_temp_directory("pqlab-fuzz-");
    static std::string for_exit = d;
    std::atexit([] { remove_tree(for_exit); });
    return d;
  }();
  return dir;
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// Splits `data` at lines that are exactly "#---"; always at least one part.
inline std::vector<std::string> split_parts(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string marker = "\n#---\n";
  std::vector<std::string> parts;
  size_t begin = 0;
  for (size_t at; (at = text.find(marker, begin)) != std::string::npos; begin = at + marker.size())
    parts.push_back(text.substr(begin, at + 1 - begin));
  parts.push_back(text.substr(begin));
  return parts;
}

/// Called for a pqlab::Error (the expected outcome of bad input); PQLAB_FUZZ_VERBOSE=1 prints it,
/// to check what a seed or a regression input does.
inline void expected_error(const std::exception& e) {
  static const bool verbose = std::getenv("PQLAB_FUZZ_VERBOSE") && std::getenv("PQLAB_FUZZ_VERBOSE")[0] == '1';
  if (verbose) std::fprintf(stderr, "error (expected): %s\n", e.what());
}

/// Called for an exception that is not a pqlab::Error. `pqlab` reports those like any other error
/// (cli.cpp catches std::exception), so by default they are accepted; PQLAB_FUZZ_STRICT=1 makes
/// them crashes, to find parsers that let a foreign exception (json, c10, std::) escape.
inline void foreign_exception(const std::exception& e) {
  static const bool strict = std::getenv("PQLAB_FUZZ_STRICT") && std::getenv("PQLAB_FUZZ_STRICT")[0] == '1';
  expected_error(e);
  if (!strict) return;
  std::fprintf(stderr, "non-pqlab exception escaped: %s\n", e.what());
  std::abort();
}

}  // namespace pqlab::fuzz
