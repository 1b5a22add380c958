// Bit-level tensor comparisons and small constructors shared by the format tests.
#pragma once
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace pqlab::test {

/// float32 [1, n] holding exactly these values (memcpy, so -0.0 and NaN payloads survive).
inline at::Tensor row(const std::vector<float>& v) {
  at::Tensor t = at::empty({1, static_cast<int64_t>(v.size())}, at::kFloat);
  std::memcpy(t.data_ptr<float>(), v.data(), v.size() * 4);
  return t;
}

/// Elements as float (any dtype, any device).
inline std::vector<float> values(const at::Tensor& t) {
  at::Tensor c = t.to(at::kFloat).contiguous().cpu();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

/// Elements as int (codes, scale bytes).
inline std::vector<int> bytes(const at::Tensor& t) {
  at::Tensor c = t.to(at::kInt).contiguous().cpu();
  return std::vector<int>(c.data_ptr<int>(), c.data_ptr<int>() + c.numel());
}

/// Same shape and the same float32 bit pattern everywhere (any NaN matches any NaN). Stricter
/// than at::equal, which treats -0.0 == 0.0.
inline ::testing::AssertionResult same_bits(const at::Tensor& a, const at::Tensor& b) {
  if (a.sizes() != b.sizes()) return ::testing::AssertionFailure() << "shapes differ";
  std::vector<float> va = values(a), vb = values(b);
  for (size_t i = 0; i < va.size(); ++i) {
    uint32_t ua, ub;
    std::memcpy(&ua, &va[i], 4);
    std::memcpy(&ub, &vb[i], 4);
    if (std::isnan(va[i]) && std::isnan(vb[i])) continue;
    if (ua != ub) return ::testing::AssertionFailure() << "element " << i << ": " << va[i] << " vs " << vb[i];
  }
  return ::testing::AssertionSuccess();
}

}  // namespace pqlab::test
