#include "framework/quant/hadamard.h"

#include <ATen/ATen.h>

#include <cmath>
#include <map>
#include <mutex>

#include "framework/core/error.h"

namespace pqlab {
namespace {

bool is_pow2(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

bool is_prime(int64_t q) {
  if (q < 2) return false;
  for (int64_t d = 2; d * d <= q; ++d)
    if (q % d == 0) return false;
  return true;
}

// Quadratic character of a mod q (q an odd prime): 0, 1 or -1.
int chi(int64_t a, int64_t q) {
  a %= q;
  if (a < 0) a += q;
  if (a == 0) return 0;
  for (int64_t x = 1; x < q; ++x)
    if ((x * x) % q == a) return 1;
  return -1;
}

// The Paley core [[0, 1^T], [s 1, Q]] of order q + 1, Q_ij = chi(j - i), s = -1 (Paley I) or +1.
at::Tensor paley_core(int64_t q, int s) {
  at::Tensor c = at::zeros({q + 1, q + 1}, at::kDouble);
  auto a = c.accessor<double, 2>();
  for (int64_t i = 1; i <= q; ++i) {
    a[0][i] = 1;
    a[i][0] = s;
    for (int64_t j = 1; j <= q; ++j) a[i][j] = chi(j - i, q);
  }
  return c;
}

// A Paley order m: 0 when m is none.
int64_t paley_kind(int64_t m) {
  if (m >= 4 && is_prime(m - 1) && (m - 1) % 4 == 3) return 1;
  if (m >= 12 && m % 2 == 0 && is_prime(m / 2 - 1) && (m / 2 - 1) % 4 == 1) return 2;
  return 0;
}

at::Tensor build(int64_t m) {
  if (m == 1) return at::ones({1, 1}, at::kDouble);
  // Powers of two by Sylvester's doubling (what fwht_last computes), even where Paley would also
  // apply (4 = 3 + 1, 8 = 7 + 1).
  if (is_pow2(m) || (m % 2 == 0 && paley_kind(m) == 0)) {
    const at::Tensor h = build(m / 2);
    return at::cat({at::cat({h, h}, 1), at::cat({h, -h}, 1)}, 0);
  }
  const int64_t kind = paley_kind(m);
  if (kind == 1) {
    const int64_t q = m - 1;
    return at::eye(m, at::kDouble) + paley_core(q, -1);
  }
  if (kind == 2) {
    const int64_t q = m / 2 - 1;
    const at::Tensor s = paley_core(q, 1);
    const at::Tensor zero_block = at::tensor({1.0, -1.0, -1.0, -1.0}, at::kDouble).view({2, 2});
    const at::Tensor one_block = at::tensor({1.0, 1.0, 1.0, -1.0}, at::kDouble).view({2, 2});
    const at::Tensor zeros = s.eq(0).to(at::kDouble);
    return at::kron(zeros, zero_block) + at::kron(s, one_block);
  }
  throw UsageError("no Hadamard matrix of order " + std::to_string(m) +
                   " (pqlab builds 2^n times a Paley order q+1, q prime = 3 mod 4, or 2(q+1), q prime = 1 mod 4)");
}

}  // namespace

std::string HadamardOrder::describe() const {
  return m == 1 ? std::to_string(pow2) : std::to_string(m) + "x" + std::to_string(pow2);
}

HadamardOrder hadamard_order(int64_t k) {
  if (k < 1) throw UsageError("no Hadamard matrix of order " + std::to_string(k));
  // Smallest dense factor m first: it decides the cost of the dense matmul.
  for (int64_t pow2 = int64_t(1) << 62; pow2 >= 1; pow2 >>= 1) {
    if (k % pow2 != 0) continue;
    const int64_t m = k / pow2;
    if (m == 1 || paley_kind(m) != 0) return {m, pow2};
  }
  throw UsageError("no Hadamard rotation of size " + std::to_string(k) +
                   ": it must be 2^n times 1 or a Paley order (12, 20, 28, 36, 44, 60, 68, 76, 84, 108, 140, ...)");
}

bool has_hadamard(int64_t k) {
  try {
    hadamard_order(k);
    return true;
  } catch (const UsageError&) {
    return false;
  }
}

at::Tensor hadamard_matrix(int64_t m) {
  static std::mutex mu;
  static std::map<int64_t, at::Tensor> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(m);
  if (it == cache.end()) it = cache.emplace(m, build(m)).first;
  return it->second;
}

at::Tensor regular_hadamard_matrix(int64_t n) {
  int64_t v = n;
  while (v > 1 && v % 4 == 0) v /= 4;
  if (n < 4 || v != 1) throw UsageError("a regular Hadamard block must have size 4^k (4, 16, 64, 256, ...), not " + std::to_string(n));
  const at::Tensor h4 = at::tensor(std::vector<double>{1, 1, 1, -1, 1, 1, -1, 1, 1, -1, 1, 1, -1, 1, 1, 1}, at::kDouble).view({4, 4});
  at::Tensor h = h4;
  for (int64_t size = 4; size < n; size *= 4) h = at::kron(h4, h);
  return h;
}

at::Tensor fwht_last(const at::Tensor& x) {
  const int64_t len = x.size(-1);
  if (!is_pow2(len)) throw UsageError("fwht: length " + std::to_string(len) + " is not a power of two");
  std::vector<int64_t> lead(x.sizes().begin(), x.sizes().end() - 1);
  at::Tensor y = x.contiguous();
  for (int64_t h = 1; h < len; h *= 2) {
    std::vector<int64_t> shape = lead;
    shape.insert(shape.end(), {len / (2 * h), 2, h});
    const at::Tensor v = y.view(shape);
    const at::Tensor a = v.select(-2, 0), b = v.select(-2, 1);
    y = at::stack({a + b, a - b}, -2).reshape(x.sizes());
  }
  return y;
}

at::Tensor hadamard_transform_last(const at::Tensor& x) {
  const int64_t k = x.size(-1);
  const HadamardOrder o = hadamard_order(k);
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end() - 1);
  shape.insert(shape.end(), {o.m, o.pow2});
  at::Tensor y = fwht_last(x.reshape(shape));
  if (o.m > 1) {
    // index k = i * 2^n + j: (x H_K)[i', j'] = sum_i H_m[i, i'] (x H_2^n)[i, j'].
    const at::Tensor hm = hadamard_matrix(o.m).to(x.device(), x.scalar_type());
    y = at::matmul(hm.t(), y);
  }
  return (y * (1.0 / std::sqrt(static_cast<double>(k)))).reshape(x.sizes());
}

}  // namespace pqlab
