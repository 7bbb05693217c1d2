// The scalar end of every int8 kernel: one block's int32 sums (acc[m][c],
// 16 channels) to int8 outputs, with the reference requantization. Kernels
// run their own vector version when every channel of the block fits 32-bit
// lanes (pcvm::fits_lanes), and this one otherwise. Included inside each ISA's namespace; the including
// file provides micro/pcvm_ops.h and kernels/int8.h.

namespace {

inline void store_block_scalar(const Int8Gemm& g, const int32_t (*acc)[16], int64_t m0, int64_t rows,
                               int64_t c0, int64_t cols) {
  for (int64_t m = 0; m < rows; ++m)
    for (int64_t c = 0; c < cols; ++c) {
      // The kernel's sum and its adjusted bias may each pass int32 on the
      // way (as in the vector adds); their total, the true sum, fits.
      const auto sum = static_cast<int32_t>(static_cast<uint32_t>(acc[m][c]) +
                                            static_cast<uint32_t>(g.bias[c0 + c]));
      const int64_t v = int64_t{g.out_zp} + pcvm::requantize(sum, g.multiplier[c0 + c], g.shift[c0 + c]);
      g.y[(m0 + m) * g.ldy + c0 + c] = pcvm::to_int8(v, g.act_min, g.act_max);
    }
}

// A block's bias, multipliers and right shifts (-shift), zero past cols, for
// kernels that load them as vectors.
struct BlockParams {
  alignas(32) int32_t bias[16], multiplier[16], right[16];
};

inline void block_params(const Int8Gemm& g, int64_t c0, int64_t cols, BlockParams& p) {
  for (int64_t c = 0; c < 16; ++c) {
    const bool in = c < cols;
    p.bias[c] = in ? g.bias[c0 + c] : 0;
    p.multiplier[c] = in ? g.multiplier[c0 + c] : 0;
    p.right[c] = in ? -g.shift[c0 + c] : 0;
  }
}

// True when every channel of the block [c0, c0 + cols) fits 32-bit lanes
// (pcvm::fits_lanes: no left shift, nor a result near int32's ends).
inline bool fits_lanes(const Int8Gemm& g, int64_t c0, int64_t cols) {
  for (int64_t c = 0; c < cols; ++c)
    if (!pcvm::fits_lanes(g.multiplier[c0 + c], g.shift[c0 + c])) return false;
  return true;
}

}  // namespace
