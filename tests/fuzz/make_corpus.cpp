// Writes the fuzzer's seed corpus: a few valid .pcv files, from the full
// sample model down to an empty record, and a quantized model. Usage: make_corpus <folder>
#include <cstdio>
#include <string>

#include "io/pcv_format.h"
#include "sample_model.h"
#include "sample_quantized.h"

using namespace pyconv;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <folder>\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  auto full = test::sample_model(true), small = test::sample_model(false);
  auto quantized = test::sample_quantized();
  io::ModelRecord no_tensors = full.record;
  no_tensors.tensors.clear();
  io::ModelRecord empty, tensors_only;
  tensors_only.tensors = full.record.tensors;
  const std::pair<const char*, const io::ModelRecord*> seeds[] = {
      {"full.pcv", &full.record},
      {"small.pcv", &small.record},
      {"no_tensors.pcv", &no_tensors},
      {"tensors_only.pcv", &tensors_only},
      {"empty.pcv", &empty},
      {"quantized.pcv", &quantized.record}};
  try {
    for (const auto& [name, record] : seeds) io::write_file(dir + "/" + name, io::encode(*record));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_corpus: %s\n", e.what());
    return 1;
  }
  return 0;
}
