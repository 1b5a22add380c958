#include "framework/core/device_memory.h"

#include <c10/core/Device.h>

#ifdef PQLAB_TORCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace pqlab {
namespace {

#ifdef PQLAB_TORCH_CUDA
// The CUDA device index of `device`, or -1 (not CUDA, or no GPU).
int cuda_index(const std::string& device) {
  if (device.rfind("cuda", 0) != 0 || c10::cuda::device_count() == 0) return -1;
  const c10::Device d(device);
  return d.has_index() ? d.index() : c10::cuda::current_device();
}
#endif

}  // namespace

void reset_peak_device_memory(const std::string& device) {
#ifdef PQLAB_TORCH_CUDA
  const int i = cuda_index(device);
  if (i >= 0) c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(i));
#else
  (void)device;
#endif
}

int64_t peak_device_memory(const std::string& device) {
#ifdef PQLAB_TORCH_CUDA
  const int i = cuda_index(device);
  if (i < 0) return -1;
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(i));
  // Index 0 is StatType::AGGREGATE (all pools); its namespace moved between PyTorch releases.
  return stats.allocated_bytes[0].peak;
#else
  (void)device;
  return -1;
#endif
}

}  // namespace pqlab
