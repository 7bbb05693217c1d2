// op(B) packed into NR-column panels, shared by the packed GEMMs: included
// in gemm_avx2.cpp's and gemm_neon.cpp's anonymous namespaces after they
// define NR and depth_block(K). The including file provides <algorithm>
// and <cstring>.

// Depth [p0, p0 + kc) of op(B)'s columns [j, j + nr) as one NR-wide panel
// (dst[k * NR + c]), zero past nr.
void pack_b_panel(bool trans, const float* B, int64_t ldb, int64_t p0, int64_t kc, int64_t j,
                  int nr, float* dst) {
  if (!trans) {
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = B + (p0 + k) * ldb + j;
      float* d = dst + k * NR;
      if (nr == NR) {
        std::memcpy(d, src, NR * sizeof(float));
      } else {
        for (int c = 0; c < NR; ++c) d[c] = c < nr ? src[c] : 0.f;
      }
    }
    return;
  }
  for (int c = 0; c < NR; ++c) {  // B stored N x K: each column's run of k is contiguous
    const float* src = B + (j + c) * ldb + p0;
    for (int64_t k = 0; k < kc; ++k) dst[k * NR + c] = c < nr ? src[k] : 0.f;
  }
}

// A pre-packed op(B) (sgemm_pack_b) holds every depth block in turn, each as
// all of op(B)'s NR-column panels: the block at depth pc starts pc * panels *
// NR floats in (every block before it is kc deep), its panel jp jp * kc * NR
// floats further, as the GEMM packs a block itself.
int64_t panels_of(int64_t N) { return (N + NR - 1) / NR; }

int64_t prepacked_offset(int64_t N, int64_t pc, int64_t kc, int64_t j) {
  return pc * panels_of(N) * NR + j / NR * kc * NR;
}

void pack_all_of_b(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb, float* dst) {
  const int64_t kc = depth_block(K);
  for (int64_t pc = 0; pc < K; pc += kc) {
    const int64_t depth = std::min(kc, K - pc);
    for (int64_t j = 0; j < N; j += NR)
      pack_b_panel(trans_b, B, ldb, pc, depth, j, static_cast<int>(std::min<int64_t>(NR, N - j)),
                   dst + prepacked_offset(N, pc, depth, j));
  }
}
