// What C++ code inside pyconv (tests, the C++ layer) uses to hand a graph to
// the C API. Not installed: C programs only see pyconv/pyconv.h.
#pragma once
#include <memory>

#include "graph/graph.h"
#include "pyconv/pyconv.h"

namespace pyconv::capi {

// A pcv_model owning `graph`; release it with pcv_model_free.
pcv_model* wrap_graph(std::unique_ptr<Graph> graph);

}  // namespace pyconv::capi
