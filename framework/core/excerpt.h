// Bounded quoting of user-supplied values in error messages: a corrupt file or a bad config value
// can be megabytes long, and an error message that repeats it whole buries the message itself.
#pragma once
#include <cstddef>
#include <string>

namespace pqlab {

/// Longest part of a user value that an error message quotes.
constexpr size_t kExcerptChars = 200;

/// `text` itself when it has at most `max_bytes` bytes, else its first `max_bytes` bytes (cut back
/// to a UTF-8 character boundary, so the message stays valid UTF-8) followed by "...".
std::string excerpt(const std::string& text, size_t max_bytes = kExcerptChars);

}  // namespace pqlab
