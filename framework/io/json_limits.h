// Limits on JSON that pqlab reads from files it did not write (safetensors headers, config.json,
// checkpoint indexes, metadata strings). nlohmann::json parses iteratively, but copying, comparing
// and dump() recurse once per nesting level, so deeply nested input (100,000 levels fit in a
// 200 KB header) overflows the stack long after parsing succeeded. Every such text is checked
// with json_depth_error() before it is parsed, so no deep value ever exists.
#pragma once
#include <cstddef>
#include <string>

namespace pqlab {

/// Deepest nesting of arrays and objects accepted. Safetensors headers need 3 levels
/// (root, entry, shape), config.json files a few more.
constexpr int kJsonMaxDepth = 64;

/// "" when the arrays and objects of the JSON text [begin, end) nest at most max_depth levels,
/// else "arrays and objects nest deeper than <max_depth> levels (at byte <offset>)". One linear
/// scan that skips string contents (escapes included); it does not otherwise validate the text.
std::string json_depth_error(const char* begin, const char* end, int max_depth = kJsonMaxDepth);
inline std::string json_depth_error(const std::string& text, int max_depth = kJsonMaxDepth) {
  return json_depth_error(text.data(), text.data() + text.size(), max_depth);
}

}  // namespace pqlab
