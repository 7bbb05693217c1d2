#include "graph/profile.h"

#include <algorithm>

#include "core/error.h"

namespace pyconv {

void Profile::resize(size_t nodes) {
  nodes_ = nodes;
  const size_t n = std::max<size_t>(nodes, 1) * kParts;
  ns_ = std::make_unique<std::atomic<int64_t>[]>(n);
  calls_ = std::make_unique<std::atomic<int64_t>[]>(n);
  reset();
}

void Profile::reset() {
  const size_t n = std::max<size_t>(nodes_, 1) * kParts;
  for (size_t i = 0; i < n; ++i) {
    ns_[i].store(0, std::memory_order_relaxed);
    calls_[i].store(0, std::memory_order_relaxed);
  }
}

void Profile::add(size_t node, Part part, int64_t ns) {
  const size_t i = node * kParts + part;
  ns_[i].fetch_add(ns, std::memory_order_relaxed);
  calls_[i].fetch_add(1, std::memory_order_relaxed);
}

Profile::Counts Profile::get(size_t node, Part part) const {
  if (node >= std::max<size_t>(nodes_, 1) || part < 0 || part >= kParts)
    throw ValueError(cat("profile: no row ", node, " part ", static_cast<int>(part)));
  const size_t i = node * kParts + part;
  return {ns_[i].load(std::memory_order_relaxed), calls_[i].load(std::memory_order_relaxed)};
}

}  // namespace pyconv
