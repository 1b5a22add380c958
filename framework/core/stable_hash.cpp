#include "framework/core/stable_hash.h"

#include <algorithm>

namespace pqlab {

uint64_t stable_hash64(const std::string& text) {
  uint64_t h = 14695981039346656037ULL;  // FNV offset basis
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;  // FNV prime
  }
  return h;
}

std::string stable_hash_hex(const std::string& text, int digits) {
  static const char kHex[] = "0123456789abcdef";
  const uint64_t h = stable_hash64(text);
  std::string s(16, '0');
  for (int i = 0; i < 16; ++i) s[static_cast<size_t>(i)] = kHex[(h >> (60 - 4 * i)) & 0xF];
  return s.substr(0, static_cast<size_t>(std::clamp(digits, 1, 16)));
}

}  // namespace pqlab
