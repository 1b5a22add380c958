#include "framework/stats/column_stats.h"

#include <ATen/ATen.h>

#include <string>

#include "framework/core/error.h"

#ifdef PQLAB_CUDA_KERNELS
namespace pqlab::cuda {
// framework/stats/column_stats.cu
const char* column_stats(int dtype, const void* x, int64_t rows, int64_t cols, int64_t row_stride, double* partial,
                         int64_t chunk_rows, double* sum, double* sumsq, double* absmax);
}  // namespace pqlab::cuda
#endif

namespace pqlab {

bool column_stats_fused_cuda() {
#ifdef PQLAB_CUDA_KERNELS
  return true;
#else
  return false;
#endif
}

void accumulate_column_stats(const at::Tensor& x, at::Tensor& sum, at::Tensor& sumsq, at::Tensor& absmax) {
  if (x.dim() != 2) throw RuntimeError("accumulate_column_stats: x must be [R, K], got " + std::to_string(x.dim()) + "-D");
  const int64_t k = x.size(1);
  for (const at::Tensor* t : {&sum, &sumsq, &absmax})
    if (t->scalar_type() != at::kDouble || t->dim() != 1 || t->size(0) != k || t->device() != x.device() ||
        !t->is_contiguous())
      throw RuntimeError("accumulate_column_stats: accumulators must be contiguous float64 [K] on x's device");
  const at::ScalarType st = x.scalar_type();
  const bool half = st == at::kBFloat16 || st == at::kHalf;
  if (!half && st != at::kFloat) throw RuntimeError("accumulate_column_stats: x must be float32, bfloat16 or float16");
  if (x.size(0) == 0) return;
#ifdef PQLAB_CUDA_KERNELS
  if (x.is_cuda()) {
    // Rows must be contiguous (the kernel walks columns of one row with unit stride).
    const at::Tensor xc = x.stride(1) == 1 ? x : x.contiguous();
    constexpr int64_t kChunkRows = 64;
    const int64_t chunks = (xc.size(0) + kChunkRows - 1) / kChunkRows;
    at::Tensor partial = at::empty({3, chunks, k}, sum.options());
    const int dtype = st == at::kFloat ? 0 : st == at::kBFloat16 ? 1 : 2;
    const char* err = cuda::column_stats(dtype, xc.data_ptr(), xc.size(0), k, xc.stride(0), partial.data_ptr<double>(),
                                         kChunkRows, sum.data_ptr<double>(), sumsq.data_ptr<double>(),
                                         absmax.data_ptr<double>());
    if (err) throw RuntimeError(std::string("accumulate_column_stats: CUDA error: ") + err);
    return;
  }
#endif
  // No float64 copy of the input: sums accumulate in float64 straight from it; squares of 16-bit
  // inputs are formed in float32, where they are exact (16 significant bits at most).
  sum.add_(at::sum(x, {0}, false, at::kDouble));
  const at::Tensor xs = x.to(half ? at::kFloat : at::kDouble);
  sumsq.add_(at::sum(xs * xs, {0}, false, at::kDouble));
  absmax.copy_(at::maximum(absmax, x.abs().amax(0).to(at::kDouble)));
}

}  // namespace pqlab
