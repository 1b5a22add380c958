// Shell-style globs for selecting layers by semantic key ("double.*.img.attn.*", "embed.*").
#pragma once
#include <string>
#include <vector>

namespace pqlab {
/// '*' matches any run of characters (dots included), '?' one character; everything else literal.
bool glob_match(const std::string& pattern, const std::string& text);
bool glob_match_any(const std::vector<std::string>& patterns, const std::string& text);
}  // namespace pqlab
