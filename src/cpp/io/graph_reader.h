// Parses the graph section (inputs, nodes, outputs, loss, optimizer, meta).
#pragma once
#include "io/byte_reader.h"
#include "io/pcv_format.h"

namespace pyconv::io {

// Fills m's input_shapes, nodes, outputs, loss, optimizer and meta from the
// whole of `r`. Checks the encoding only; record_problem checks the meaning.
void read_graph_section(ByteReader& r, ModelRecord& m);

}  // namespace pyconv::io
