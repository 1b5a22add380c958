// A hash of text that is the same on every machine, compiler and run, for names that must stay
// put: sweep task folders (<index>-<hash>) and calibration cache entries. std::hash promises none
// of that, and none of the Debian packages we depend on exports a plain digest function, so this
// is FNV-1a (64 bit), written here. Not for security: nothing adversarial chooses the inputs.
// Tests: tests/framework/core/stable_hash_test.cpp
#pragma once
#include <cstdint>
#include <string>

namespace pqlab {

/// FNV-1a 64 of the bytes of `text`.
uint64_t stable_hash64(const std::string& text);

/// The first `digits` (1..16) lowercase hex digits of stable_hash64(text).
std::string stable_hash_hex(const std::string& text, int digits = 16);

}  // namespace pqlab
