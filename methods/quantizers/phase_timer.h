// Wall seconds of a method's phase, added to its MethodReport when the scope ends (phases are
// timed site by site and accumulate).
#pragma once
#include <chrono>
#include <string>

#include "framework/interfaces/method.h"

namespace pqlab::methods {

class PhaseTimer {
 public:
  PhaseTimer(MethodReport& report, std::string phase)
      : report_(report), phase_(std::move(phase)), t0_(std::chrono::steady_clock::now()) {}
  ~PhaseTimer() {
    report_.add_seconds(phase_, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count());
  }
  PhaseTimer(const PhaseTimer&) = delete;
  PhaseTimer& operator=(const PhaseTimer&) = delete;

 private:
  MethodReport& report_;
  std::string phase_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace pqlab::methods
