// The fused pass of framework/stats/sq_error.h. Written by hand: no packaged library reduces
// (a - b)^2 and b^2 of two low-precision tensors to float64 in one read.
//
// Two launches, deterministic (no atomics): (1) a grid-stride loop, each thread summing in
// float64, a warp-shuffle and shared-memory reduction per block, one partial per block; (2) one
// block adds the partials in order into *err and *ref. Stream and device as in column_stats.cu
// (the legacy default stream, PyTorch's current one; the current device).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace pqlab::cuda {
namespace {

__device__ __forceinline__ double to_double(float v) { return v; }
__device__ __forceinline__ double to_double(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ double to_double(__half v) { return __half2float(v); }

constexpr int kThreads = 256;

// Block-wide sum of v (all threads return it; valid in thread 0).
__device__ double block_sum(double v, double* shared) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = threadIdx.x < kThreads / 32 ? shared[threadIdx.x] : 0.0;
  if (warp == 0)
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  __syncthreads();
  return v;
}

template <class T>
__global__ void sq_partials(const T* __restrict__ a, const T* __restrict__ b, int64_t n, double* __restrict__ partial) {
  __shared__ double shared[kThreads / 32];
  double e = 0.0, r = 0.0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride) {
    const double bv = to_double(b[i]);
    r += bv * bv;
    if (a) {
      const double d = to_double(a[i]) - bv;  // exact in float64 for 16-bit and float32 inputs
      e += d * d;
    }
  }
  e = block_sum(e, shared);
  r = block_sum(r, shared);
  if (threadIdx.x == 0) {
    partial[blockIdx.x] = e;
    partial[gridDim.x + blockIdx.x] = r;
  }
}

__global__ void sq_finish(const double* __restrict__ partial, int blocks, double* err, double* ref) {
  if (threadIdx.x != 0) return;
  double e = 0.0, r = 0.0;
  for (int i = 0; i < blocks; ++i) {
    e += partial[i];
    r += partial[blocks + i];
  }
  if (err) *err += e;
  if (ref) *ref += r;
}

}  // namespace

// dtype: 0 float32, 1 bfloat16, 2 float16; a may be null (no error term). partial: 2 * max_blocks
// doubles. Returns null, or the CUDA error's text.
const char* sq_error(int dtype, const void* a, const void* b, int64_t n, double* partial, int64_t max_blocks,
                     double* err, double* ref) {
  if (n == 0) return nullptr;
  int64_t blocks = (n + kThreads * 8 - 1) / (kThreads * 8);
  if (blocks > max_blocks) blocks = max_blocks;
  const unsigned g = static_cast<unsigned>(blocks);
  switch (dtype) {
    case 0: sq_partials<<<g, kThreads>>>(static_cast<const float*>(a), static_cast<const float*>(b), n, partial); break;
    case 1: sq_partials<<<g, kThreads>>>(static_cast<const __nv_bfloat16*>(a), static_cast<const __nv_bfloat16*>(b), n, partial); break;
    case 2: sq_partials<<<g, kThreads>>>(static_cast<const __half*>(a), static_cast<const __half*>(b), n, partial); break;
    default: return "unsupported dtype";
  }
  sq_finish<<<1, 32>>>(partial, static_cast<int>(blocks), err, ref);
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
}

}  // namespace pqlab::cuda
