#include "framework/stats/sq_error.h"

#include <ATen/ATen.h>

#include <string>

#include "framework/core/error.h"

#ifdef PQLAB_CUDA_KERNELS
namespace pqlab::cuda {
// framework/stats/sq_error.cu
const char* sq_error(int dtype, const void* a, const void* b, int64_t n, double* partial, int64_t max_blocks,
                     double* err, double* ref);
}  // namespace pqlab::cuda
#endif

namespace pqlab {

void accumulate_sq_error(const at::Tensor& a, const at::Tensor& b, const at::Tensor& err, const at::Tensor& ref) {
  const at::ScalarType st = b.scalar_type();
  if (st != at::kFloat && st != at::kBFloat16 && st != at::kHalf)
    throw RuntimeError("accumulate_sq_error: b must be float32, bfloat16 or float16");
  if (a.defined() && (a.sizes() != b.sizes() || a.scalar_type() != st || a.device() != b.device()))
    throw RuntimeError("accumulate_sq_error: a and b differ in shape, dtype or device");
  for (const at::Tensor* t : {&err, &ref})
    if (t->defined() && (t->scalar_type() != at::kDouble || t->numel() != 1 || t->device() != b.device()))
      throw RuntimeError("accumulate_sq_error: err and ref must be one float64 element on b's device");
  if (!a.defined() && !ref.defined()) return;
#ifdef PQLAB_CUDA_KERNELS
  if (b.is_cuda()) {
    const at::Tensor bc = b.contiguous(), ac = a.defined() ? a.contiguous() : at::Tensor();
    constexpr int64_t kMaxBlocks = 1024;
    at::Tensor partial = at::empty({2, kMaxBlocks}, err.defined() ? err.options() : ref.options());
    const int dtype = st == at::kFloat ? 0 : st == at::kBFloat16 ? 1 : 2;
    const char* e = cuda::sq_error(dtype, ac.defined() ? ac.data_ptr() : nullptr, bc.data_ptr(), bc.numel(),
                                   partial.data_ptr<double>(), kMaxBlocks, a.defined() ? err.data_ptr<double>() : nullptr,
                                   ref.defined() ? ref.data_ptr<double>() : nullptr);
    if (e) throw RuntimeError(std::string("accumulate_sq_error: CUDA error: ") + e);
    return;
  }
#endif
  const at::Tensor bd = b.detach().to(at::kDouble);
  if (a.defined()) err.add_((a.detach().to(at::kDouble) - bd).pow(2).sum().reshape(err.sizes()));
  if (ref.defined()) ref.add_(bd.pow(2).sum().reshape(ref.sizes()));
}

}  // namespace pqlab
