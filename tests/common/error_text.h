// The message of the pqlab::Error a call throws, for tests that compare messages exactly.
#pragma once
#include <functional>
#include <string>

#include "framework/core/error.h"

namespace pqlab::test {

/// What f throws (any pqlab::Error), or "<no error>".
inline std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace pqlab::test
