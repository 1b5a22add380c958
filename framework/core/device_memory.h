// Peak device memory of a stage, from libtorch's CUDA caching allocator (bytes held by tensors,
// not the allocator's reserve, nor the CUDA context): what a method's calibration costs on the
// GPU, recorded per stage in the result file. Compiled against a libtorch with CUDA headers only;
// elsewhere (Debian's CPU libtorch) and for CPU models every query answers -1.
#pragma once
#include <cstdint>
#include <string>

namespace pqlab {

/// Starts a new peak for `device` ("cuda", "cuda:1"); nothing for other devices.
void reset_peak_device_memory(const std::string& device);
/// Bytes allocated at the peak since the last reset on `device`; -1 when unknown (CPU device,
/// or pqlab built without CUDA headers).
int64_t peak_device_memory(const std::string& device);

}  // namespace pqlab
