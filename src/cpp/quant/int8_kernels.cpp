#include "quant/int8_kernels.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/cpu_features.h"
#include "core/threads.h"
#include "kernels/dispatch.h"
#include "micro/pcvm_ops.h"

namespace pyconv {

namespace {

using kernels::Int8Isa;

// Whether a kernel set here has plane_conv (x86-64's avx512_vnni_vbmi):
// elsewhere the code that prepares and calls it is left out.
#if defined(PYCONV_HAVE_VBMI) && defined(PYCONV_HAVE_VNNI)
constexpr bool kPlaneConv = true;
#else
constexpr bool kPlaneConv = false;
#endif

// The op's int8 weight W[k][f] of group g (f within the group), k over taps
// and channels: convolution weights are (kh, kw, C / groups, F), dense (n, F).
int8_t weight_at(const pcvm::Op& op, int64_t g, int64_t k, int64_t f, int64_t fg) {
  return op.weight_i8[k * op.out_c + g * fg + f];
}

int64_t depth_of(const pcvm::Op& op) {
  if (op.type == pcvm::kQDense) return int64_t{op.in_h} * op.in_w * op.in_c;
  return int64_t{op.kh} * op.kw * (op.in_c / op.groups);
}

// The input with its padding filled in (the zero point), so that every tap
// of every output pixel reads inside it: rows [-pad_top, ...) and columns
// [-pad_left, ...) of the input, as far as the last window reaches.
struct PaddedInput {
  const int8_t* data;
  int64_t width;  // pixels per row
  const int8_t* end;  // one past the last byte
};

thread_local std::vector<int8_t> t_padded, t_rows;

// What the kernel set reads in place of an input byte x: x ^ flip (see
// Int8Isa::input_offset).
int8_t flip_of(const Int8Isa& isa) { return static_cast<int8_t>(isa.input_offset ? 0x80 : 0); }

// dst[i] = src[i] ^ flip for i in [0, n).
void copy_flipped(int8_t* dst, const int8_t* src, int64_t n, int8_t flip) {
  if (!flip) {
    std::memcpy(dst, src, static_cast<size_t>(n));
    return;
  }
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<int8_t>(src[i] ^ flip);
}

// The padded input's pixels a row: as far as the last window reaches.
int64_t padded_width(const pcvm::Op& op) {
  return int64_t{op.out_w - 1} * op.sw + int64_t{op.kw - 1} * op.dw + 1;
}

// The input as the kernel set reads it (flip), `slack` more bytes past its
// end readable; a copy is made unless x itself will do.
PaddedInput pad_input(const pcvm::Op& op, const int8_t* x, int8_t flip, int64_t slack = 0) {
  const int64_t h = int64_t{op.out_h - 1} * op.sh + int64_t{op.kh - 1} * op.dh + 1;
  const int64_t w = padded_width(op);
  if (op.pad_top == 0 && op.pad_left == 0 && h <= op.in_h && w <= op.in_w && slack == 0 && !flip)
    return {x, op.in_w, x + int64_t{op.in_h} * op.in_w * op.in_c};
  const int64_t row = w * op.in_c, bytes = h * row + slack;
  if (static_cast<int64_t>(t_padded.size()) < bytes) t_padded.resize(static_cast<size_t>(bytes));
  int8_t* const out = t_padded.data();
  const auto zp = static_cast<unsigned char>(op.in_zp ^ flip);
  // Padded row i is input row i - pad_top, padded column p input column
  // p - pad_left; the zero point where there is none. One memset where
  // there is padding (small rows: a call per row's edges costs more).
  const int64_t top = op.pad_top, bottom = std::min<int64_t>(h, top + op.in_h);
  const int64_t lo = op.pad_left, hi = std::min<int64_t>(w, lo + op.in_w);
  const bool padded = top > 0 || bottom < h || lo > 0 || hi < w;
  std::memset(padded ? out : out + h * row, zp, static_cast<size_t>(padded ? bytes : slack));
  for (int64_t i = top; i < bottom; ++i)
    copy_flipped(out + i * row + lo * op.in_c, x + (i - top) * op.in_w * op.in_c, (hi - lo) * op.in_c, flip);
  return {out, w, out + bytes};
}

// n bytes: fixed-size copies where source and destination have room for
// them (the bytes past n are overwritten later), so no memcpy call per tap.
inline void copy_run(int8_t* dst, const int8_t* src, int64_t n, int64_t room) {
  if (n <= 8 && room >= 8) {
    std::memcpy(dst, src, 8);
  } else if (n <= 128 && room >= (n + 15) / 16 * 16) {
    for (int64_t i = 0; i < n; i += 16) std::memcpy(dst + i, src + i, 16);
  } else {
    std::memcpy(dst, src, static_cast<size_t>(n));
  }
}

// Rows for the GEMM: output pixels [p0, p0 + rows) of group g, each its taps'
// inputs and zeros up to the padded depth. Without groups and dilation, a
// kernel row's taps are one run of the padded input row.
void gather_rows(const pcvm::Op& op, const PaddedInput& in, int64_t g, int64_t p0, int64_t rows,
                 int64_t kp, int8_t* out) {
  const int64_t cg = op.in_c / op.groups, row_bytes = op.kw * cg, depth = op.kh * row_bytes;
  const bool runs = op.groups == 1 && op.dw == 1;
  const int64_t tap_row = op.dh * in.width * op.in_c;  // from one kernel row to the next
  int64_t oh = p0 / op.out_w, ow = p0 % op.out_w;
  for (int64_t r = 0; r < rows; ++r, out += kp) {
    const int8_t* base = in.data + (oh * op.sh * in.width + ow * op.sw) * op.in_c + g * cg;
    for (int64_t i = 0; i < op.kh; ++i) {
      const int8_t* src = base + i * tap_row;
      int8_t* o = out + i * row_bytes;
      if (runs) {
        // Room: the rest of this row's kp bytes; a copy may run into the next
        // kernel row's bytes, which are written after it.
        copy_run(o, src, row_bytes, std::min<int64_t>(kp - i * row_bytes, in.end - src));
        continue;
      }
      for (int64_t j = 0; j < op.kw; ++j) std::memcpy(o + j * cg, src + j * op.dw * op.in_c, static_cast<size_t>(cg));
    }
    for (int64_t k = depth; k < kp; ++k) out[k] = 0;  // at most 3 bytes
    if (++ow == op.out_w) ow = 0, ++oh;
  }
}

kernels::Int8Gemm gemm_args(const pcvm::Op& op, const PackedInt8& p, int64_t g) {
  kernels::Int8Gemm a{};
  a.w = p.group(g);
  a.kp = p.padded_depth;
  a.seg = a.kp, a.seg_stride = 0;
  a.n = p.group_channels;
  a.bias = p.bias.data() + g * p.group_channels;
  a.multiplier = op.multiplier + g * p.group_channels;
  a.shift = op.shift + g * p.group_channels;
  a.out_zp = op.out_zp, a.act_min = op.act_min, a.act_max = op.act_max;
  a.ldy = op.out_c;
  return a;
}

thread_local int t_op_threads = 0;  // OpThreads's limit; 0: num_threads()

// Threads for `work` multiply-adds of one sample's op: all of them for a
// large op, one when the samples are already shared among threads.
int op_threads(int64_t work) {
  if (pool_in_task()) return 1;
  return threads_for(work, t_op_threads > 0 ? t_op_threads : num_threads());
}

// Output rows in runs, a few a thread, claimed one at a time: the runs of
// the rows [0, rows) for `work` multiply-adds in all.
template <class F>
void output_row_runs(int64_t rows, int64_t work, F&& run) {
  const int threads = op_threads(work);
  const int64_t runs = threads == 1 ? 1 : std::min<int64_t>(rows, 4 * threads);
  parallel_for(threads, runs, [&](int64_t i) { run(rows * i / runs, rows * (i + 1) / runs); },
               /*dynamic=*/true);
}

// A one-channel convolution through the kernel set's plane_conv, and the
// 2x2 average pooling after it if `pool` (y: the pooling's output).
void plane_qconv(const pcvm::Op& op, const PackedInt8& p, const int8_t* x, int8_t* y,
                 const pcvm::Op* pool = nullptr) {
  // Each group's window reads up to 63 bytes past its first tap.
  const PaddedInput in = pad_input(op, x, flip_of(*p.isa), 64);
  const PackedInt8::PlaneTaps& t = p.plane;
  const int64_t rows = pool ? pool->out_h : op.out_h, row_pixels = pool ? pool->out_w : op.out_w;
  const int64_t rows_read = pool ? 2 : 1;  // output rows a row of y takes
  output_row_runs(rows, int64_t{op.out_h} * op.out_w * t.groups * 4 * op.out_c, [&](int64_t r0, int64_t r1) {
    kernels::Int8PlaneConv c{};
    c.row_step = int64_t{op.sh} * in.width, c.sw = op.sw;
    c.x = reinterpret_cast<const uint8_t*>(in.data) + r0 * rows_read * c.row_step;
    c.out_w = op.out_w, c.rows = r1 - r0, c.pooled_w = pool ? pool->out_w : 0;
    c.groups = t.groups, c.channels = op.out_c;
    c.index = t.index.data(), c.start = t.start.data(), c.w = t.w.data();
    c.interleave = t.interleave;
    c.bias = p.bias.data(), c.multiplier = op.multiplier, c.shift = op.shift;
    c.out_zp = op.out_zp, c.act_min = op.act_min, c.act_max = op.act_max;
    c.y = y + r0 * row_pixels * op.out_c;
    p.isa->plane_conv(c);
  });
}

// A 1x1 convolution over all channels: it reads its input as it lies.
bool reads_input_as_it_lies(const pcvm::Op& op, const PackedInt8& p) {
  return op.kh == 1 && op.kw == 1 && op.sh == 1 && op.sw == 1 && op.pad_top == 0 && op.pad_left == 0 &&
         op.groups == 1 && p.padded_depth == op.in_c && op.out_h == op.in_h && op.out_w == op.in_w;
}

// Whether a convolution runs on a kernel set that reads segments.
bool by_segments(const pcvm::Op& op, const PackedInt8& p) { return p.seg && !reads_input_as_it_lies(op, p); }

// A convolution on a kernel set that reads segments: each kernel row's taps
// from the padded input (and up to 3 bytes past them, under zero weights), a
// row of output pixels at a time, no im2col copy. Where the input is copied
// anyway (flipped), room for the tiles' rows past each output row too. With
// `pool` (a 2x2 max or average pooling that tiles the output, on a kernel
// set with gemm_pool_2x2), y gets the pooling's output: pairs of output rows.
void segment_qconv(const pcvm::Op& op, const PackedInt8& p, const int8_t* x, int8_t* y,
                   const pcvm::Op* pool = nullptr) {
  const int8_t flip = flip_of(*p.isa);
  const int64_t lda = int64_t{op.sw} * op.in_c;
  const bool tail = flip != 0;
  const PaddedInput in = pad_input(op, x, flip, (p.seg - int64_t{op.kw} * op.in_c) +
                                                (tail ? kernels::kInt8TailRows * lda + p.seg : 0));
  const int64_t rows_read = pool ? 2 : 1;  // output rows a row of y takes
  const int64_t rows = pool ? pool->out_h : op.out_h;
  const int64_t row_bytes = int64_t{pool ? pool->out_w : op.out_w} * op.out_c;
  // One call a run of rows (Int8Gemm::repeats), so the kernel sets its
  // blocks up once a run.
  output_row_runs(rows, int64_t{op.out_h} * op.out_w * p.padded_depth * op.out_c, [&](int64_t r0, int64_t r1) {
    kernels::Int8Gemm a = gemm_args(op, p, 0);
    a.a_step = op.sh * in.width * op.in_c, a.y_step = row_bytes;
    a.a = in.data + r0 * rows_read * a.a_step, a.lda = lda, a.M = op.out_w;
    a.seg = p.seg, a.seg_stride = int64_t{op.dh} * in.width * op.in_c;
    a.tail_readable = tail;
    a.y = y + r0 * row_bytes, a.repeats = (r1 - r0) * rows_read;
    a.pool_2x2 = !pool                              ? kernels::Int8Gemm::kNoPool
                 : pool->type == pcvm::kQMaxPool2D ? kernels::Int8Gemm::kMax
                                                   : kernels::Int8Gemm::kAverage;
    p.isa->gemm(a);
  });
}

void packed_qconv(const pcvm::Op& op, const int8_t* x, int8_t* y) {
  if (!op.packed) return pcvm::qconv_ref(op, x, y);
  const auto& p = *static_cast<const PackedInt8*>(op.packed);
  if (kPlaneConv && p.plane.groups) return plane_qconv(op, p, x, y);
  if (by_segments(op, p)) return segment_qconv(op, p, x, y);
  const int64_t pixels = int64_t{op.out_h} * op.out_w, kp = p.padded_depth;
  const bool direct = reads_input_as_it_lies(op, p);
  const int8_t flip = flip_of(*p.isa);
  // Pixels gathered at a time, claimed by threads one by one: a multiple of
  // every tile height of the kernels (no tail tile), small enough to share
  // a layer of a few hundred pixels evenly.
  constexpr int64_t kRows = 48;
  const PaddedInput in = direct && !flip ? PaddedInput{x, op.in_w, nullptr} : pad_input(op, x, flip);
  const int64_t chunks = (pixels + kRows - 1) / kRows;
  parallel_for(op_threads(pixels * kp * op.out_c), chunks * op.groups, [&](int64_t i) {
    const int64_t g = i / chunks, p0 = i % chunks * kRows;
    kernels::Int8Gemm a = gemm_args(op, p, g);
    a.M = std::min(kRows, pixels - p0);
    if (direct) {
      a.a = in.data + p0 * op.in_c, a.lda = op.in_c;
    } else {
      if (static_cast<int64_t>(t_rows.size()) < kRows * kp) t_rows.resize(kRows * kp);
      gather_rows(op, in, g, p0, a.M, kp, t_rows.data());
      a.a = t_rows.data(), a.lda = kp;
    }
    a.y = y + p0 * op.out_c + g * p.group_channels;
    p.isa->gemm(a);
  }, /*dynamic=*/true);
}

// pcvm::Kernels::qconv_pool: a convolution and the pooling whose 2x2
// windows tile its output, in one pass, where the kernels take the pair:
// average pooling after a one-channel convolution on plane_conv (LeNet-5's
// first two layers), max or average pooling after a convolution whose GEMM
// takes pool_2x2 (the Keras MNIST CNN's, LeNet-5's second). The
// convolution's output is never stored.
bool packed_qconv_pool(const pcvm::Op& op, const pcvm::Op& pool, const int8_t* x, int8_t* y) {
  if (!op.packed || (pool.type != pcvm::kQMaxPool2D && pool.type != pcvm::kQAvgPool2D) || !pcvm::tiles_2x2(pool))
    return false;
  const auto& p = *static_cast<const PackedInt8*>(op.packed);
  if (kPlaneConv && pool.type == pcvm::kQAvgPool2D && p.plane.groups) {
    plane_qconv(op, p, x, y, &pool);
    return true;
  }
  if (!p.isa->gemm_pool_2x2 || !by_segments(op, p) || !flip_of(*p.isa) || !p.lanes)
    return false;
  segment_qconv(op, p, x, y, &pool);
  return true;
}

void packed_qdense(const pcvm::Op& op, const int8_t* x, int8_t* y) {
  if (!op.packed) return pcvm::qdense_ref(op, x, y);
  const auto& p = *static_cast<const PackedInt8*>(op.packed);
  const int8_t* a = x;
  const int8_t flip = flip_of(*p.isa);
  if (p.padded_depth != p.depth || flip) {  // as the kernel reads it, zeros up to the padded depth
    if (static_cast<int64_t>(t_rows.size()) < p.padded_depth) t_rows.resize(p.padded_depth);
    copy_flipped(t_rows.data(), x, p.depth, flip);
    std::memset(t_rows.data() + p.depth, 0, static_cast<size_t>(p.padded_depth - p.depth));
    a = t_rows.data();
  }
  // Threads take slices of 16-channel blocks.
  const int64_t blocks = (p.group_channels + 15) / 16;
  const int team = static_cast<int>(std::min<int64_t>(blocks, op_threads(p.padded_depth * op.out_c)));
  parallel_for(team, team, [&](int64_t t) {
    const int64_t c0 = blocks * t / team * 16, c1 = std::min(p.group_channels, blocks * (t + 1) / team * 16);
    kernels::Int8Gemm g = gemm_args(op, p, 0);
    g.a = a, g.M = 1, g.lda = p.padded_depth;
    g.w = static_cast<const char*>(g.w) + c0 * p.padded_depth * p.isa->bytes_per_value;
    g.n = c1 - c0, g.bias += c0, g.multiplier += c0, g.shift += c0, g.y = y + c0;
    p.isa->gemm(g);
  });
}

}  // namespace

OpThreads::OpThreads(int threads) : saved_(t_op_threads) { t_op_threads = threads; }
OpThreads::~OpThreads() { t_op_threads = saved_; }

void qdense_rows(const pcvm::Op& op, const int8_t* x, int64_t ldx, int64_t rows, int8_t* y, int64_t ldy) {
  if (!op.packed) {
    for (int64_t r = 0; r < rows; ++r) pcvm::qdense_ref(op, x + r * ldx, y + r * ldy);
    return;
  }
  const auto& p = *static_cast<const PackedInt8*>(op.packed);
  if (const int8_t flip = flip_of(*p.isa); flip && rows > 0) {  // the rows as the kernel reads them
    thread_local std::vector<int8_t> t_flipped;
    const int64_t bytes = (rows - 1) * ldx + p.padded_depth;
    if (static_cast<int64_t>(t_flipped.size()) < bytes) t_flipped.resize(static_cast<size_t>(bytes));
    copy_flipped(t_flipped.data(), x, bytes, flip);
    x = t_flipped.data();
  }
  // Work items: 48 rows (a multiple of every tile's) by 4 blocks of 16
  // channels (the widest tile), so that each item reads its weights once
  // for all its rows.
  constexpr int64_t kRows = 48, kBlocks = 4;
  const int64_t chunks = (rows + kRows - 1) / kRows, slices = (p.group_channels + 16 * kBlocks - 1) / (16 * kBlocks);
  parallel_for(op_threads(rows * p.padded_depth * op.out_c), chunks * slices, [&](int64_t i) {
    const int64_t r0 = i / slices * kRows, c0 = i % slices * 16 * kBlocks;
    kernels::Int8Gemm g = gemm_args(op, p, 0);
    g.a = x + r0 * ldx, g.lda = ldx, g.M = std::min(kRows, rows - r0);
    g.w = static_cast<const char*>(g.w) + c0 * p.padded_depth * p.isa->bytes_per_value;
    g.n = std::min(16 * kBlocks, p.group_channels - c0), g.bias += c0, g.multiplier += c0, g.shift += c0;
    g.y = y + r0 * ldy + c0, g.ldy = ldy;
    p.isa->gemm(g);
  }, /*dynamic=*/true);
}

namespace {

const Int8Isa kIsas[] = {
// Best first.
#if defined(PYCONV_HAVE_VBMI) && defined(PYCONV_HAVE_VNNI)
    {"avx512_vnni_vbmi", 1, 128, kernels::vnni::int8_gemm, true, kernels::vbmi::int8_quantize,
     kernels::avx2::int8_maxpool, kernels::avx2::int8_avgpool, kernels::vbmi::int8_plane_conv, true},
#endif
#if defined(PYCONV_HAVE_VNNI)
    {"avx512_vnni", 1, 128, kernels::vnni::int8_gemm, true, kernels::avx2::int8_quantize,
     kernels::avx2::int8_maxpool, kernels::avx2::int8_avgpool, nullptr, true},
#endif
#if defined(PYCONV_HAVE_AVX2)
    {"avx2", 2, 0, kernels::avx2::int8_gemm, true, kernels::avx2::int8_quantize, kernels::avx2::int8_maxpool,
     kernels::avx2::int8_avgpool},
#endif
#if defined(PYCONV_HAVE_DOTPROD)
    {"neon_dotprod", 1, 0, kernels::dotprod::int8_gemm, false, kernels::neon::int8_quantize,
     kernels::neon::int8_maxpool, kernels::neon::int8_avgpool},
#endif
#if defined(PYCONV_HAVE_NEON)
    {"neon", 1, 0, kernels::neon::int8_gemm, false, kernels::neon::int8_quantize, kernels::neon::int8_maxpool,
     kernels::neon::int8_avgpool},
#endif
    {"ref", 0, 0, nullptr, false, nullptr, nullptr, nullptr},  // keeps the array non-empty; never selected
};

bool supported(const Int8Isa& isa) {
  const std::string name = isa.name;
  if (name == "avx512_vnni_vbmi") return cpu_features().avx512_vnni && cpu_features().avx512_vbmi;
  if (name == "avx512_vnni") return cpu_features().avx512_vnni;
  if (name == "avx2") return cpu_features().avx2;
  if (name == "neon_dotprod") return cpu_features().arm_dotprod;
  return name == "neon";
}

}  // namespace

const void* PackedInt8::group(int64_t g) const {
  const int64_t blocks = (group_channels + 15) / 16, size = blocks * padded_depth * 16;
  return isa->bytes_per_value == 2 ? static_cast<const void*>(w16.data() + g * size)
                                   : static_cast<const void*>(w8.data() + g * size);
}

namespace {

// The taps of a one-channel convolution in groups for isa.plane_conv (see
// kernels::Int8PlaneConv), or none where the op does not suit it: more than
// 8 channels, not every channel fitting 32-bit lanes (`lanes`), or a group
// whose 16 pixels' taps do not fit one 64-byte window.
PackedInt8::PlaneTaps plane_taps(const Int8Isa& isa, const pcvm::Op& op, bool lanes) {
  PackedInt8::PlaneTaps t;
  if (!kPlaneConv || !isa.plane_conv || !lanes || op.type != pcvm::kQConv2D || op.groups != 1 ||
      op.in_c != 1 || op.out_c < 1 || op.out_c > 8)
    return t;
  const int64_t taps = int64_t{op.kh} * op.kw, groups = (taps + 3) / 4, width = padded_width(op);
  // Tap k's byte in the padded input, from the pixel's first tap.
  auto offset = [&](int64_t k) { return k / op.kw * op.dh * width + k % op.kw * op.dw; };
  for (int64_t g = 0; g < groups; ++g)
    if (15 * int64_t{op.sw} + offset(std::min(taps, 4 * g + 4) - 1) - offset(4 * g) > 63) return t;
  t.groups = static_cast<int>(groups);
  t.index.resize(static_cast<size_t>(64 * groups));  // taps past the last: byte 0, weight 0
  t.start.resize(static_cast<size_t>(groups));
  const int64_t even = (op.out_c + 1) / 2 * 2;  // channels a group, in the kernel's packing
  t.w.resize(static_cast<size_t>(groups * even));
  for (int64_t k = 0; k < taps; ++k) {
    const int64_t g = k / 4;
    t.start[g] = static_cast<int32_t>(offset(4 * g));
    for (int64_t j = 0; j < 16; ++j) t.index[64 * g + 4 * j + k % 4] = static_cast<uint8_t>(j * op.sw + offset(k) - t.start[g]);
    for (int32_t c = 0; c < op.out_c; ++c)
      reinterpret_cast<int8_t*>(&t.w[g * even + c])[k % 4] = weight_at(op, 0, k, c, op.out_c);
  }
  // Output byte b (pixel b / C, channel b % C) from channel c's 16 bytes,
  // which plane_conv puts at 16c (+ 64 for the second vector, c >= 4); and
  // pooled byte b (pixel b / C of 8) from the means of channel c, which it
  // puts at 16 (c / 2) + 8 (c % 2).
  for (int64_t b = 0; b < 128; ++b) {
    const int64_t c = b % op.out_c;
    t.interleave[b] = static_cast<uint8_t>((c / 4) * 64 + (c % 4) * 16 + b / op.out_c % 16);
    if (b < 64) t.interleave[128 + b] = static_cast<uint8_t>((c / 2) * 16 + (c % 2) * 8 + b / op.out_c % 8);
  }
  return t;
}

}  // namespace

PackedInt8 pack_int8(const Int8Isa& isa, const pcvm::Op& op) {
  PackedInt8 p;
  p.isa = &isa;
  p.depth = depth_of(op);
  p.padded_depth = (p.depth + 3) / 4 * 4;
  p.group_channels = op.out_c / op.groups;
  // For a kernel that reads segments: each kernel row's taps (one run of the
  // input) padded to a multiple of 4 with zero weights.
  const int64_t run = int64_t{op.kw} * op.in_c;
  if (isa.segments && op.type == pcvm::kQConv2D && op.groups == 1 && op.dw == 1) {
    p.seg = (run + 3) / 4 * 4;
    p.padded_depth = op.kh * p.seg;
  }
  const int64_t fg = p.group_channels, blocks = (fg + 15) / 16, kp = p.padded_depth;
  std::vector<int8_t> w(static_cast<size_t>(op.groups * blocks * kp * 16), 0);
  p.bias.resize(static_cast<size_t>(op.out_c));
  for (int64_t g = 0; g < op.groups; ++g)
    for (int64_t f = 0; f < fg; ++f) {
      int64_t column_sum = 0;
      int8_t* dst = w.data() + ((g * blocks + f / 16) * kp) * 16 + (f % 16) * 4;
      for (int64_t k = 0; k < p.depth; ++k) {
        const int8_t v = weight_at(op, g, k, f, fg);
        const int64_t at = p.seg ? k / run * p.seg + k % run : k;
        dst[(at / 4) * 64 + at % 4] = v;
        column_sum += v;
      }
      const int64_t c = g * fg + f;
      p.bias[c] = static_cast<int32_t>((op.bias_i32 ? op.bias_i32[c] : 0) -
                                       (op.in_zp + isa.input_offset) * column_sum);
    }
  p.lanes = true;
  for (int32_t c = 0; c < op.out_c; ++c) p.lanes = p.lanes && pcvm::fits_lanes(op.multiplier[c], op.shift[c]);
  p.plane = plane_taps(isa, op, p.lanes);
  if (isa.bytes_per_value == 2)
    p.w16.assign(w.begin(), w.end());
  else
    p.w8 = std::move(w);
  return p;
}

pcvm::Kernels int8_kernels(const kernels::Int8Isa* isa) {
  pcvm::Kernels k = pcvm::reference_kernels();
  k.qconv = packed_qconv, k.qdense = packed_qdense, k.qconv_pool = packed_qconv_pool;
  if (isa) k.quantize = isa->quantize, k.qmaxpool = isa->maxpool, k.qavgpool = isa->avgpool;
  return k;
}

namespace kernels {

const Int8Isa* int8_isa(const char* name) {
  for (const Int8Isa& isa : kIsas)
    if (isa.gemm && std::string(isa.name) == name && supported(isa)) return &isa;
  return nullptr;
}

const Int8Isa* active_int8_isa() {
  const std::string table = active().isa;
  if (table == "ref") return nullptr;
  for (const Int8Isa& isa : kIsas)
    if (isa.gemm && supported(isa)) return &isa;
  return nullptr;
}

}  // namespace kernels

}  // namespace pyconv
