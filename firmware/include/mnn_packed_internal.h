/**
 * @file mnn_packed_internal.h
 * @brief Internal helpers of the packed low-bit family (not part of the public API).
 *
 * The scheme table, the per-pair dot-product kernels (generated from one always-inline
 * template so every constant folds), bit-stream helpers and the shared layer drivers.
 */
#ifndef MNN_PACKED_INTERNAL_H
#define MNN_PACKED_INTERNAL_H

#include "mnn_packed.h"

/** Largest unsigned value of a `b`-bit operand. */
#define MNN_PK_MAXV(b) ((1u << (b)) - 1u)
/** Values per unrolled block, `V = 32 / min(bw, ba)`. */
#define MNN_PK_BLOCK(bw, ba) (32 / ((bw) < (ba) ? (bw) : (ba)))
/** Bound `R_max = floor((2^s - 1) / (n (2^ba - 1)(2^bw - 1)))` on multiplies between drains. */
#define MNN_PK_RMAX(bw, ba, s, n) \
    ((uint32_t)((((uint64_t)1 << (s)) - 1u) / ((uint64_t)(n) * MNN_PK_MAXV(bw) * MNN_PK_MAXV(ba))))

/**
 * Scheme table, `X(bw, ba, s, n, wide)`: lane width s and lane count n per pair, chosen to
 * maximise products per multiply among the lane layouts one AND can extract from a dense
 * word (s = 8 or 16 with n = 32/s; s = 24, n = 2 with a 64-bit product for 8-bit pairs),
 * ties broken by the longer run between drains.  Mirrored by
 * `mcusim.kernels.packed.select_scheme`.
 */
#define MNN_PK_SCHEMES(X) \
    X(2, 2, 8, 4, 0)      \
    X(2, 4, 8, 4, 0)      \
    X(2, 8, 16, 2, 0)     \
    X(4, 2, 8, 4, 0)      \
    X(4, 4, 16, 2, 0)     \
    X(4, 8, 16, 2, 0)     \
    X(8, 2, 16, 2, 0)     \
    X(8, 4, 16, 2, 0)     \
    X(8, 8, 24, 2, 1)

/**
 * Unsigned dot products of one activation row with `channels` consecutive weight rows
 * (`row_bytes` apart), each over `nblocks` whole blocks of V values:
 * `out[c] = sum a_u w_u[c]`.  Channels are processed two at a time where the pair's kernel
 * does so (#MNN_PK_TILE2_MUL), sharing the activation registers.
 */
typedef void (*mnn_pk_dot_fn)(const uint8_t *a, const uint8_t *w, int32_t row_bytes,
                              int32_t nblocks, int32_t channels, uint32_t *out);

/**
 * 1 when the packed kernel of a pair computes two output channels per pass (sharing the
 * activation registers).  Measured under emulation: every pair gains except w8a2, whose
 * two-channel loop (16 values, 4 activation words per block) spills registers.
 */
#define MNN_PK_TILE2_MUL(bw, ba) (!((bw) == 8 && (ba) == 2))

/**
 * Keep a constant in a register so that `(x >> k) & mask` compiles to one
 * `AND Rd, Rmask, Rx, LSR #k` instead of a shift plus an AND with an immediate.
 */
#define MNN_PK_IN_REGISTER(v) __asm__("" : "+r"(v))

/** Rotate right (compiles to ROR, or folds into the shifted operand of AND). */
static inline uint32_t mnn_pk_ror(uint32_t x, uint32_t r)
{
    return (x >> r) | (x << ((32u - r) & 31u));
}

/** Mask with the low `b` bits of every `s`-bit lane set (s = 8 or 16). */
static inline uint32_t mnn_pk_lane_mask(uint32_t b, uint32_t s)
{
    return MNN_PK_MAXV(b) * (s == 8u ? 0x01010101u : 0x00010001u);
}

/** Value `i` of a dense `bits`-bit stream. */
static inline uint32_t mnn_pk_get(const uint8_t *p, int32_t i, int32_t bits)
{
    const uint32_t pos = (uint32_t)i * (uint32_t)bits;
    return ((uint32_t)p[pos >> 3] >> (pos & 7u)) & MNN_PK_MAXV(bits);
}

/** Store value `v` (already in range) at index `i` of a dense `bits`-bit stream. */
static inline void mnn_pk_put(uint8_t *p, int32_t i, int32_t bits, uint32_t v)
{
    const uint32_t pos = (uint32_t)i * (uint32_t)bits;
    const uint32_t sh = pos & 7u;
    uint8_t *byte = &p[pos >> 3];
    *byte = (uint8_t)((*byte & ~(MNN_PK_MAXV(bits) << sh)) | (v << sh));
}

/** `sum_{i<k} a[i]` of a dense, 4-byte aligned `bits`-bit stream. */
uint32_t mnn_pk_sum(const uint8_t *a, int32_t k, int32_t bits);

/** Copy `count` values from index `si` of `src` to index `di` of `dst` (both `bits`-bit). */
void mnn_pk_copy_values(uint8_t *dst, int32_t di, const uint8_t *src, int32_t si, int32_t count,
                        int32_t bits);

/** Fill `count` values from index `di` of `dst` with `v`. */
void mnn_pk_fill_values(uint8_t *dst, int32_t di, int32_t count, int32_t bits, uint32_t v);

/** Operand-packing dot kernel of a bit-width pair, or NULL when unsupported. */
mnn_pk_dot_fn mnn_pk_get_dot_mul(int32_t w_bits, int32_t in_bits);
/** Unpack + SMLAD dot kernel of a bit-width pair, or NULL when unsupported. */
mnn_pk_dot_fn mnn_pk_get_dot_smlad(int32_t w_bits, int32_t in_bits);

/** Shared fully connected driver (validation, activation sum, per-channel loop). */
mnn_status mnn_pk_fc_run(const mnn_packed_layer *layer, const mnn_per_channel_quant *quant,
                         const uint8_t *input, const uint8_t *filter, const int32_t *correction,
                         uint8_t *output, mnn_pk_dot_fn dot);

/** Shared convolution driver (im2col one row at a time into `ctx->buf`). */
mnn_status mnn_pk_conv_run(const mnn_context *ctx, const mnn_packed_layer *layer,
                           const mnn_per_channel_quant *quant, const uint8_t *input,
                           const uint8_t *filter, const int32_t *correction, uint8_t *output,
                           mnn_pk_dot_fn dot);

/** Scratch bytes of the convolution driver: one im2col row in whole blocks (0 if invalid). */
int32_t mnn_pk_conv_scratch(const mnn_packed_layer *layer);

#endif /* MNN_PACKED_INTERNAL_H */
