// op(A) packed into MR-row panels with 8-float vectors, shared by the AVX2
// and AVX-512 GEMMs (both use 6-row tiles): included in their anonymous
// namespaces after MR, KC and kernels/avx2_lanes.h. The including file
// provides <immintrin.h> and <algorithm>.
static_assert(MR == 6, "pack_a_rows8 fills 6 of 8 lanes");

// Depth per packed block: K split evenly (a multiple of 4, as pack_a_rows8
// takes 8 steps at a time), so no thin remainder block.
int64_t depth_block(int64_t K) {
  const int64_t k_blocks = (K + KC - 1) / KC;
  return ((K + k_blocks - 1) / k_blocks + 3) / 4 * 4;
}

// Floats past a packed A block that pack_a_rows8's last column may write.
constexpr int64_t kPackSlack = 8;

// Transposes 8 depth steps of MR full rows (rows[r][k0..k0+7]) into packed
// columns dst[k * MR + r]. Each column is stored as 8 lanes, the 2 extra
// lanes landing where the next column goes, to be overwritten by it. The
// last column's extra lanes may land past the panel: the packing buffer has
// kPackSlack floats to spare.
inline void pack_a_rows8(const float* const rows[MR], int64_t k0, float* dst) {
  __m256 in[8], columns[8];
  for (int r = 0; r < MR; ++r) in[r] = _mm256_loadu_ps(rows[r] + k0);
  in[6] = in[7] = _mm256_setzero_ps();
  transpose8(in, columns);
  for (int k = 0; k < 8; ++k) _mm256_storeu_ps(dst + k * MR, columns[k]);
}

// A stored K x M (op(A) = A^T): each packed column of MR values is a
// contiguous run of a row of A. Depth-major, so each row of A is read once
// for all panels. Columns are stored as 8 lanes, the 2 extra landing where
// the panel's next column goes; the last column is stored masked, as its
// extra lanes would hit the next panel.
void pack_a_trans(const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc,
                  float* dst) {
  const int64_t full = mc / MR;  // panels with MR real rows
  const __m256i mask = first_lanes(MR);
  for (int64_t k = 0; k < kc; ++k) {
    const float* src = A + (p0 + k) * lda + i0;
    for (int64_t panel = 0; panel < full; ++panel) {
      const float* s = src + panel * MR;
      float* d = dst + panel * MR * kc + k * MR;
      // 8 lanes are read where 8 values follow in the block; the last panel
      // (which may end the matrix) reads only its MR values.
      const __m256 v = panel * MR + 8 <= mc ? _mm256_loadu_ps(s) : _mm256_maskload_ps(s, mask);
      if (k + 1 < kc)
        _mm256_storeu_ps(d, v);
      else
        _mm256_maskstore_ps(d, mask, v);
    }
  }
  if (full * MR == mc) return;
  const int mr = static_cast<int>(mc - full * MR);
  float* d = dst + full * MR * kc;
  for (int64_t k = 0; k < kc; ++k) {
    const float* src = A + (p0 + k) * lda + i0 + full * MR;
    for (int r = 0; r < MR; ++r) d[k * MR + r] = r < mr ? src[r] : 0.f;
  }
}

// Rows [i0, i0 + mc) and depth [p0, p0 + kc) of op(A), as MR-row panels: for
// each k, MR consecutive values. Rows past mc are zero.
void pack_a(bool trans, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t p0,
            int64_t kc, float* dst) {
  if (trans) {
    pack_a_trans(A, lda, i0, mc, p0, kc, dst);
    return;
  }
  for (int64_t ir = 0; ir < mc; ir += MR, dst += MR * kc) {
    const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
    const float* rows[MR];
    for (int r = 0; r < MR; ++r) rows[r] = A + (i0 + ir + std::min(r, mr - 1)) * lda + p0;
    int64_t k = 0;
    if (mr == MR)
      for (; k + 8 <= kc; k += 8) pack_a_rows8(rows, k, dst + k * MR);
    for (; k < kc; ++k) {
      float* d = dst + k * MR;
      for (int r = 0; r < MR; ++r) d[r] = r < mr ? rows[r][k] : 0.f;
    }
  }
}
