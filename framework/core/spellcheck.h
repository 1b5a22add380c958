// "Did you mean" suggestions for keys, plugin names and sub-commands (ninja's SpellcheckString).
#pragma once
#include <string>
#include <vector>

namespace pqlab {

/// Levenshtein distance (insert/delete/substitute, each cost 1).
int edit_distance(const std::string& a, const std::string& b);

/// The closest candidate within edit distance 3 (and closer than the word's length), or "".
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

/// "a, b, c" (the candidates in the order given).
std::string join(const std::vector<std::string>& items, const std::string& sep = ", ");

}  // namespace pqlab
