// WeightCache: weights in the form a kernel reads fastest (packed GEMM
// panels, a Winograd transform), kept across calls, as ONNX Runtime pre-packs
// weights once per session instead of once per run.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>

#include "core/tensor.h"

namespace pyconv::ops {

// Belongs to the model (a layer holds one per weight it derives from) and is
// shared by every thread that runs it. get() rebuilds the value when the
// weights' version (Param::version: bumped by every write) or the key (what
// built it: the kernel table, whose layout it is) changed. A caller holds the
// value it got until it is done, even if another thread rebuilds meanwhile.
class WeightCache {
 public:
  // build(Tensor&) writes the derived weights into the tensor (resizing it).
  template <class Build>
  std::shared_ptr<const Tensor> get(uint64_t version, const void* key, Build&& build) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!value_ || version_ != version || key_ != key) {
      // Reuse the buffer unless a caller still reads the old value.
      if (!value_ || value_.use_count() > 1) value_ = std::make_shared<Tensor>();
      version_ = ~version;  // a build that throws leaves the value stale
      build(*value_);
      version_ = version;
      key_ = key;
    }
    return value_;
  }

 private:
  std::mutex mutex_;
  std::shared_ptr<Tensor> value_;
  uint64_t version_ = 0;
  const void* key_ = nullptr;
};

}  // namespace pyconv::ops
