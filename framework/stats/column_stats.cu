// The fused column-statistics pass of framework/stats/column_stats.h. Written by hand because no
// packaged library (ATen, CUB, Thrust) reduces three statistics of a column in one read: ATen's
// separate column reductions read the input five times.
//
// Two launches, both deterministic (no atomics): (1) block (x, y) covers 256 columns and one chunk
// of chunk_rows rows; each thread walks its column down the chunk, accumulating the sum and the
// sum of squares in float64 and |x|max in float32 (exact), and writes them to partial[3, chunks,
// K]; (2) one thread per column adds the chunks in order into the accumulators. Consecutive threads
// read consecutive elements of a row, so every warp load is one contiguous segment.
//
// Launched on the legacy default stream (stream 0), which is PyTorch's current stream unless a
// caller sets another; pqlab never does. Device: the current one (pqlab runs on one GPU).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace pqlab::cuda {
namespace {

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }

// Square in float for 16-bit inputs (exact: at most 16 significant bits), in double for float32.
__device__ __forceinline__ double square(float v, bool wide) {
  return wide ? static_cast<double>(v) * static_cast<double>(v) : static_cast<double>(v * v);
}

// NaN-propagating max of non-negative values (fmaxf would drop a NaN).
__device__ __forceinline__ float max_nan(float m, float a) { return (a > m || a != a) ? a : m; }
__device__ __forceinline__ double max_nan(double m, double a) { return (a > m || a != a) ? a : m; }

constexpr int kThreads = 256;

template <class T>
__global__ void column_partials(const T* __restrict__ x, int64_t rows, int64_t cols, int64_t row_stride,
                                int64_t chunk_rows, double* __restrict__ partial) {
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (col >= cols) return;
  const int64_t chunk = blockIdx.y, chunks = gridDim.y;
  const int64_t r0 = chunk * chunk_rows;
  const int64_t r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;
  const bool wide = sizeof(T) == 4;
  double s = 0.0, q = 0.0;
  float m = 0.0f;
  const T* p = x + r0 * row_stride + col;
#pragma unroll 8
  for (int64_t r = r0; r < r1; ++r, p += row_stride) {
    const float v = to_float(*p);
    s += static_cast<double>(v);
    q += square(v, wide);
    m = max_nan(m, fabsf(v));
  }
  partial[chunk * cols + col] = s;
  partial[(chunks + chunk) * cols + col] = q;
  partial[(2 * chunks + chunk) * cols + col] = static_cast<double>(m);
}

__global__ void column_finish(const double* __restrict__ partial, int64_t chunks, int64_t cols, double* sum,
                              double* sumsq, double* absmax) {
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (col >= cols) return;
  double s = 0.0, q = 0.0, m = absmax[col];
  for (int64_t c = 0; c < chunks; ++c) {
    s += partial[c * cols + col];
    q += partial[(chunks + c) * cols + col];
    m = max_nan(m, partial[(2 * chunks + c) * cols + col]);
  }
  sum[col] += s;
  sumsq[col] += q;
  absmax[col] = m;
}

}  // namespace

// dtype: 0 float32, 1 bfloat16, 2 float16. partial: 3 * ceil(rows / chunk_rows) * cols doubles.
// Returns null, or the CUDA error's text.
const char* column_stats(int dtype, const void* x, int64_t rows, int64_t cols, int64_t row_stride, double* partial,
                         int64_t chunk_rows, double* sum, double* sumsq, double* absmax) {
  const int64_t chunks = (rows + chunk_rows - 1) / chunk_rows;
  if (chunks > 65535) chunk_rows = (rows + 65534) / 65535;  // gridDim.y limit; the caller sized partial for more
  const dim3 grid(static_cast<unsigned>((cols + kThreads - 1) / kThreads), static_cast<unsigned>((rows + chunk_rows - 1) / chunk_rows));
  switch (dtype) {
    case 0: column_partials<<<grid, kThreads>>>(static_cast<const float*>(x), rows, cols, row_stride, chunk_rows, partial); break;
    case 1: column_partials<<<grid, kThreads>>>(static_cast<const __nv_bfloat16*>(x), rows, cols, row_stride, chunk_rows, partial); break;
    case 2: column_partials<<<grid, kThreads>>>(static_cast<const __half*>(x), rows, cols, row_stride, chunk_rows, partial); break;
    default: return "unsupported dtype";
  }
  column_finish<<<grid.x, kThreads>>>(partial, grid.y, cols, sum, sumsq, absmax);
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
}

}  // namespace pqlab::cuda
