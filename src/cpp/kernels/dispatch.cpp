#include "kernels/dispatch.h"

#include <atomic>
#include <cstdlib>
#include <string_view>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/training.h"
#include "graph/layers/built.h"

namespace pyconv::kernels {

// A runtime-only build's tables have no backward kernels (their slots stay
// null; nothing there calls them), so the linker can leave them out.
#if PYCONV_RUNTIME_ONLY
#define PCV_TRAINING_KERNEL(slot)
#else
#define PCV_TRAINING_KERNEL(slot) PCV_KERNEL(slot)
#endif

namespace {

constexpr bool starts(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Whether a slot's kernels can be reached from the layers built in. A
// runtime-only build leaves the other slots null, so that the linker drops
// their kernels; a full build fills every slot (the tests call them all).
constexpr bool slot_used(std::string_view slot) {
  if (kTrainingBuilt) return true;
  if (starts(slot, "winograd_")) return kWinogradBuilt;
  if (starts(slot, "conv_") || starts(slot, "depthwise_")) return kConvBuilt;
  if (slot == "maxpool2d_backward_f32") return layer_built("MaxUnpooling2D");  // its scatter
  if (starts(slot, "maxpool2d_")) return layer_built("MaxPooling2D") || layer_built("MaxUnpooling2D");
  if (starts(slot, "avgpool2d_")) return layer_built("AveragePooling2D");
  if (starts(slot, "lrn_")) return layer_built("LocalResponseNormalization");
  if (starts(slot, "dropout_")) return layer_built("Dropout");
  if (starts(slot, "resample_"))
    return layer_built("Resizing") || layer_built("RandomCrop") || layer_built("RandomFlip") ||
           layer_built("RandomRotation") || layer_built("RandomTranslation") ||
           layer_built("RandomZoom");
  return true;  // the GEMM and the activations: every model's
}

KernelTable ref_table() {
  KernelTable t{};
  t.isa = "ref";
#define PCV_KERNEL(slot) \
  if constexpr (slot_used(#slot)) t.slot = ref::slot;
#include "kernels/slots.inc"
#undef PCV_KERNEL
  return t;
}

// An ISA's table: the reference table with that ISA's listed kernels on top.
bool isa_table(const std::string& isa, KernelTable& out) {
  out = ref_table();
  if (isa == "ref") return true;
#if defined(PYCONV_HAVE_AVX2)
  if (isa == "avx2") {
    if (!(cpu_features().avx2 && cpu_features().fma)) return false;
    out.isa = "avx2";
#define PCV_KERNEL(slot) \
  if constexpr (slot_used(#slot)) out.slot = avx2::slot;
#include "kernels/avx2.inc"
#undef PCV_KERNEL
    return true;
  }
#endif
#if defined(PYCONV_HAVE_AVX2) && defined(PYCONV_HAVE_AVX512)
  if (isa == "avx512") {
    if (!cpu_features().avx512 || !isa_table("avx2", out)) return false;
    out.isa = "avx512";
#define PCV_KERNEL(slot) \
  if constexpr (slot_used(#slot)) out.slot = avx512::slot;
#include "kernels/avx512.inc"
#undef PCV_KERNEL
    return true;
  }
#endif
#if defined(PYCONV_HAVE_NEON)
  if (isa == "neon") {  // Advanced SIMD: part of every AArch64 CPU
    out.isa = "neon";
#define PCV_KERNEL(slot) \
  if constexpr (slot_used(#slot)) out.slot = neon::slot;
#include "kernels/neon.inc"
#undef PCV_KERNEL
    return true;
  }
#endif
  return false;
}

std::string g_note;

KernelTable initial_table() {
  const auto isas = available_isas();
  KernelTable table;
  isa_table(isas.back(), table);
  if (const char* env = std::getenv("PYCONV_ISA"); env && *env) {
    KernelTable chosen;
    if (isa_table(env, chosen))
      table = chosen;
    else
      g_note = cat("PYCONV_ISA='", env, "' ignored: not compiled in or not supported by this CPU");
  }
  return table;
}

KernelTable& table() {
  static KernelTable t = initial_table();
  return t;
}

}  // namespace

const KernelTable& active() { return table(); }

std::vector<std::string> available_isas() {
  std::vector<std::string> out{"ref"};
  KernelTable t;
  for (const char* isa : {"avx2", "avx512", "neon"})
    if (isa_table(isa, t)) out.push_back(isa);
  return out;
}

void select_isa(const std::string& isa) {
  KernelTable t;
  if (!isa_table(isa, t)) {
    std::string list;
    for (const auto& s : available_isas()) list += (list.empty() ? "'" : ", '") + s + "'";
    throw ValueError(cat("kernel ISA '", isa, "' is not available here; expected one of ", list));
  }
  table() = t;
}

const std::string& isa_override_note() {
  active();
  return g_note;
}

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc, int threads, const GemmExtras* extras) {
  active().sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads, extras);
}

}  // namespace pyconv::kernels
