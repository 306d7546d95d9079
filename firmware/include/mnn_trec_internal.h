/**
 * @file mnn_trec_internal.h
 * @brief Internal helpers of the TREC family (not part of the public API): parameter
 *        checks, the scratch layouts shared by the kernels and their `get_buffer_size`
 *        siblings, sub-vector gathering, dot products and tile requantisation.
 */
#ifndef MNN_TREC_INTERNAL_H
#define MNN_TREC_INTERNAL_H

#include <string.h>

#include "mnn_trec.h"
#if MNN_DSP
#include <arm_acle.h>
#endif

/** Marks an empty reversed-ID-table entry and an overflowing (exactly computed) row. */
#define MNN_TREC_NONE 0xFFFFu

/** Rounds n up to a multiple of 4 bytes. */
static inline int32_t mnn_trec_align4(int32_t n) { return (n + 3) & ~3; }

/** Scratch layout: byte offsets of every region, in increasing order, and the total size. */
typedef struct {
    int32_t acc;      /**< int32 [tile_rows][C_out] accumulators */
    int32_t xbuf;     /**< int16 [tile_rows][lp] gathered sub-vectors, lp = L rounded to even */
    int32_t rowtag;   /**< uint16 [tile_rows] slot (space-efficient) or ID (original) of each row */
    int32_t centroid; /**< int16 [lp] centroid of the cluster being multiplied */
    int32_t table;    /**< space-efficient: uint16 [2^H] reversed ID table */
    int32_t slot_id;  /**< space-efficient: uint16 [S] ID of each slot */
    int32_t count;    /**< int32 [S] (space-efficient) or [2^H] (original) member counts */
    int32_t stack;    /**< space-efficient: int32 [S][slot_words] sums, then products */
    int32_t prod;     /**< original: int32 [2^H][C_out] products */
    int32_t sums;     /**< original: int32 [2^H][L] sums */
    int32_t slot_words; /**< space-efficient: max(L, C_out - H) */
    int32_t lp;       /**< L rounded up to an even number */
    int32_t total;    /**< bytes */
} mnn_trec_layout;

/** Length K of an im2col row. */
static inline int32_t mnn_trec_row_len(const mnn_trec_conv_params *conv) {
    return conv->filter.h * conv->filter.w * conv->filter.c;
}

/**
 * Checks the parameters shared by both layouts (not the buffers).
 * @return MNN_OK or MNN_ARG_ERROR.
 */
static inline mnn_status mnn_trec_check_params(const mnn_trec_conv_params *conv,
                                               const mnn_trec_params *trec) {
    if (conv == NULL || trec == NULL) return MNN_ARG_ERROR;
    const int32_t k = mnn_trec_row_len(conv);
    if (conv->input.n != 1 || conv->output.n != 1 || conv->input.c != conv->filter.c ||
        conv->output.c != conv->filter.n || conv->filter.n < 1 || k < 1) return MNN_ARG_ERROR;
    if (conv->stride.w < 1 || conv->stride.h < 1 || conv->padding.w < 0 || conv->padding.h < 0)
        return MNN_ARG_ERROR;
    if (conv->output.h != (conv->input.h + 2 * conv->padding.h - conv->filter.h) / conv->stride.h + 1 ||
        conv->output.w != (conv->input.w + 2 * conv->padding.w - conv->filter.w) / conv->stride.w + 1 ||
        conv->output.h < 1 || conv->output.w < 1) return MNN_ARG_ERROR;
    if (trec->sub_len < 1 || trec->sub_len > k || trec->hash_bits < 1 ||
        trec->hash_bits > MNN_TREC_MAX_HASH_BITS || trec->tile_rows < 1 ||
        trec->max_clusters < 0 || trec->max_clusters > 65535) return MNN_ARG_ERROR;
    return MNN_OK;
}

/** Checks the tensors and quantisation arrays both layouts need (MNN_ARG_ERROR if NULL). */
static inline mnn_status mnn_trec_check_buffers(const mnn_per_channel_quant *quant,
                                                const int8_t *input, const int8_t *filter,
                                                int8_t *output) {
    if (input == NULL || filter == NULL || output == NULL || quant == NULL ||
        quant->multiplier == NULL || quant->shift == NULL) return MNN_ARG_ERROR;
    return MNN_OK;
}

/** Layout of the space-efficient kernel's scratch (trec->hash_bits <= C_out assumed). */
static inline mnn_trec_layout mnn_trec_layout_space(const mnn_trec_conv_params *conv,
                                                    const mnn_trec_params *trec) {
    mnn_trec_layout lay;
    memset(&lay, 0, sizeof(lay));
    const int32_t rows = trec->tile_rows, cout = conv->output.c, s = trec->max_clusters;
    const int32_t rest = cout - trec->hash_bits;
    lay.lp = (trec->sub_len + 1) & ~1;
    lay.slot_words = trec->sub_len > rest ? trec->sub_len : rest;
    int32_t off = 0;
    lay.acc = off;      off += rows * cout * 4;
    lay.xbuf = off;     off += rows * lay.lp * 2;
    lay.rowtag = off;   off += mnn_trec_align4(rows * 2);
    lay.centroid = off; off += lay.lp * 2;
    lay.table = off;    off += mnn_trec_align4((1 << trec->hash_bits) * 2);
    lay.slot_id = off;  off += mnn_trec_align4(s * 2);
    lay.count = off;    off += s * 4;
    lay.stack = off;    off += s * lay.slot_words * 4;
    lay.prod = lay.sums = -1;
    lay.total = off;
    return lay;
}

/** Layout of the original kernel's scratch. */
static inline mnn_trec_layout mnn_trec_layout_orig(const mnn_trec_conv_params *conv,
                                                   const mnn_trec_params *trec) {
    mnn_trec_layout lay;
    memset(&lay, 0, sizeof(lay));
    const int32_t rows = trec->tile_rows, cout = conv->output.c, n = 1 << trec->hash_bits;
    lay.lp = (trec->sub_len + 1) & ~1;
    int32_t off = 0;
    lay.acc = off;      off += rows * cout * 4;
    lay.xbuf = off;     off += rows * lay.lp * 2;
    lay.rowtag = off;   off += mnn_trec_align4(rows * 2);
    lay.centroid = off; off += lay.lp * 2;
    lay.prod = off;     off += n * cout * 4;
    lay.count = off;    off += n * 4;
    lay.sums = off;     off += n * trec->sub_len * 4;
    lay.table = lay.slot_id = lay.stack = -1;
    lay.total = off;
    return lay;
}

/*
 * Sub-vector order.  With MNN_DSP the gathered int16 sub-vectors (and hence the cluster sums
 * and centroids) keep each group of four elements l = 4g..4g+3 in the order
 * (x0, x2, x1, x3), so that the words (x0, x2) and (x1, x3) meet the SXTB16 halves of a
 * weight word (w0, w2) and (w1, w3) without repacking; elements past the last full group
 * stay in natural order.  Without MNN_DSP the order is natural.  Sums are order-independent,
 * so the results do not depend on it.
 */

/** Position of element l of a block of length len in the gathered sub-vector. */
static inline int32_t mnn_trec_perm(int32_t l, int32_t len) {
#if MNN_DSP
    if (l < (len & ~3)) return (l & ~3) | ((l & 1) << 1) | ((l >> 1) & 1);
#else
    (void)len;
#endif
    return l;
}

/** Rotate right by 8 bits (SXTB16 of it gives bytes 1 and 3). */
static inline int32_t mnn_trec_ror8(int32_t v) {
    return (int32_t)(((uint32_t)v >> 8) | ((uint32_t)v << 24));
}

/** Plain-C tail: element l of the weights belongs to position l of x (natural order). */
static inline int32_t mnn_trec_dot_tail(const int16_t *x, const int8_t *w, int32_t i,
                                        int32_t len, int32_t acc) {
    for (; i < len; ++i) acc += (int32_t)x[i] * (int32_t)w[i];
    return acc;
}

/** One dot product (see mnn_trec_dot2_s16_s8), returned added to `acc`. */
static inline int32_t mnn_trec_dot_s16_s8(const int16_t *x, const int8_t *w, int32_t len,
                                          int32_t acc) {
    int32_t i = 0;
#if MNN_DSP
    for (; i + 4 <= len; i += 4) {
        int32_t xa, xb, wa;
        memcpy(&xa, x + i, 4);
        memcpy(&xb, x + i + 2, 4);
        memcpy(&wa, w + i, 4);
        acc = __smlad(xa, __sxtb16(wa), acc);
        acc = __smlad(xb, __sxtb16(mnn_trec_ror8(wa)), acc);
    }
#endif
    return mnn_trec_dot_tail(x, w, i, len, acc);
}

/**
 * Two dot products of one gathered sub-vector `x` (len int16, order above) with two int8
 * weight rows `w0`, `w1` (natural order, any alignment), added to `*acc0`, `*acc1`.
 */
static inline void mnn_trec_dot2_s16_s8(const int16_t *x, const int8_t *w0, const int8_t *w1,
                                        int32_t len, int32_t *acc0, int32_t *acc1) {
    int32_t s0 = *acc0, s1 = *acc1, i = 0;
#if MNN_DSP
    for (; i + 4 <= len; i += 4) {
        int32_t xa, xb, wa, wb;
        memcpy(&xa, x + i, 4);
        memcpy(&xb, x + i + 2, 4);
        memcpy(&wa, w0 + i, 4);
        memcpy(&wb, w1 + i, 4);
        s0 = __smlad(xa, __sxtb16(wa), s0);
        s0 = __smlad(xb, __sxtb16(mnn_trec_ror8(wa)), s0);
        s1 = __smlad(xa, __sxtb16(wb), s1);
        s1 = __smlad(xb, __sxtb16(mnn_trec_ror8(wb)), s1);
    }
#endif
    *acc0 = mnn_trec_dot_tail(x, w0, i, len, s0);
    *acc1 = mnn_trec_dot_tail(x, w1, i, len, s1);
}

/**
 * Four dot products: sub-vectors `x0`, `x1` (two rows) with weight rows `w0`, `w1` (two
 * channels); `acc[0..3]` = x0.w0, x0.w1, x1.w0, x1.w1 (overwritten).
 */
static inline void mnn_trec_dot2x2_s16_s8(const int16_t *x0, const int16_t *x1,
                                          const int8_t *w0, const int8_t *w1, int32_t len,
                                          int32_t *acc) {
    int32_t s00 = 0, s01 = 0, s10 = 0, s11 = 0, i = 0;
#if MNN_DSP
    for (; i + 4 <= len; i += 4) {
        int32_t xa0, xb0, xa1, xb1, wa, wb;
        memcpy(&wa, w0 + i, 4);
        memcpy(&wb, w1 + i, 4);
        memcpy(&xa0, x0 + i, 4);
        memcpy(&xb0, x0 + i + 2, 4);
        memcpy(&xa1, x1 + i, 4);
        memcpy(&xb1, x1 + i + 2, 4);
        const int32_t wa02 = __sxtb16(wa), wa13 = __sxtb16(mnn_trec_ror8(wa));
        const int32_t wb02 = __sxtb16(wb), wb13 = __sxtb16(mnn_trec_ror8(wb));
        s00 = __smlad(xa0, wa02, s00);
        s01 = __smlad(xa0, wb02, s01);
        s10 = __smlad(xa1, wa02, s10);
        s11 = __smlad(xa1, wb02, s11);
        s00 = __smlad(xb0, wa13, s00);
        s01 = __smlad(xb0, wb13, s01);
        s10 = __smlad(xb1, wa13, s10);
        s11 = __smlad(xb1, wb13, s11);
    }
#endif
    acc[0] = mnn_trec_dot_tail(x0, w0, i, len, s00);
    acc[1] = mnn_trec_dot_tail(x0, w1, i, len, s01);
    acc[2] = mnn_trec_dot_tail(x1, w0, i, len, s10);
    acc[3] = mnn_trec_dot_tail(x1, w1, i, len, s11);
}

/**
 * Hash pass over a tile's gathered sub-vectors: `ids[r]` = H sign bits (bit h = 1 when
 * projection h > 0) of the projections of row r on the weight rows `w[h * k ..]`,
 * h < nh.  When `acc` is not NULL (kernel reuse) each projection is also added to
 * `acc[r * cout + h]`.  Rows and projection vectors are taken two by two.
 */
static inline void mnn_trec_hash_rows(const int16_t *xbuf, int32_t lp, int32_t rows,
                                      const int8_t *w, int32_t k, int32_t nh, int32_t len,
                                      int32_t *acc, int32_t cout, uint16_t *ids) {
    int32_t r = 0;
    for (; r + 2 <= rows; r += 2) {
        const int16_t *x0 = xbuf + r * lp, *x1 = x0 + lp;
        uint32_t id0 = 0, id1 = 0;
        int32_t h = 0;
        for (; h + 2 <= nh; h += 2) {
            int32_t p[4];
            mnn_trec_dot2x2_s16_s8(x0, x1, w + h * k, w + (h + 1) * k, len, p);
            id0 |= ((uint32_t)(p[0] > 0) << h) | ((uint32_t)(p[1] > 0) << (h + 1));
            id1 |= ((uint32_t)(p[2] > 0) << h) | ((uint32_t)(p[3] > 0) << (h + 1));
            if (acc != NULL) {
                int32_t *a0 = acc + r * cout + h, *a1 = a0 + cout;
                a0[0] += p[0];
                a0[1] += p[1];
                a1[0] += p[2];
                a1[1] += p[3];
            }
        }
        if (h < nh) {
            const int32_t p0 = mnn_trec_dot_s16_s8(x0, w + h * k, len, 0);
            const int32_t p1 = mnn_trec_dot_s16_s8(x1, w + h * k, len, 0);
            id0 |= (uint32_t)(p0 > 0) << h;
            id1 |= (uint32_t)(p1 > 0) << h;
            if (acc != NULL) {
                acc[r * cout + h] += p0;
                acc[(r + 1) * cout + h] += p1;
            }
        }
        ids[r] = (uint16_t)id0;
        ids[r + 1] = (uint16_t)id1;
    }
    if (r < rows) {
        const int16_t *x = xbuf + r * lp;
        uint32_t id = 0;
        for (int32_t h = 0; h < nh; ++h) {
            const int32_t p0 = mnn_trec_dot_s16_s8(x, w + h * k, len, 0);
            id |= (uint32_t)(p0 > 0) << h;
            if (acc != NULL) acc[r * cout + h] += p0;
        }
        ids[r] = (uint16_t)id;
    }
}

/**
 * `out[c] = x . w[(c0 + c) * k ..]` (+ `out[c]` when `add`), for c in [0, n): the weights
 * of channels c0..c0+n-1 restricted to one block, two channels at a time.
 */
static inline void mnn_trec_dot_rows(const int16_t *x, const int8_t *w, int32_t k, int32_t n,
                                     int32_t len, int32_t *out, int add) {
    int32_t c = 0;
    for (; c + 2 <= n; c += 2) {
        int32_t a0 = add ? out[c] : 0, a1 = add ? out[c + 1] : 0;
        mnn_trec_dot2_s16_s8(x, w + c * k, w + (c + 1) * k, len, &a0, &a1);
        out[c] = a0;
        out[c + 1] = a1;
    }
    if (c < n) out[c] = mnn_trec_dot_s16_s8(x, w + c * k, len, add ? out[c] : 0);
}

/** `sum[l] += x[l]` for l in [0, len), four at a time (x 4-byte aligned). */
static inline void mnn_trec_acc_s16(int32_t *sum, const int16_t *x, int32_t len) {
    int32_t l = 0;
#if MNN_DSP
    for (; l + 4 <= len; l += 4) {
        int32_t xa, xb;
        memcpy(&xa, x + l, 4);
        memcpy(&xb, x + l + 2, 4);
        const int32_t s0 = sum[l], s1 = sum[l + 1], s2 = sum[l + 2], s3 = sum[l + 3];
        sum[l] = s0 + (int16_t)xa;
        sum[l + 1] = s1 + (xa >> 16);
        sum[l + 2] = s2 + (int16_t)xb;
        sum[l + 3] = s3 + (xb >> 16);
    }
#endif
    for (; l < len; ++l) sum[l] += x[l];
}

/** `a[c] += p[c]` for c in [0, n), four at a time. */
static inline void mnn_trec_add_s32(int32_t *a, const int32_t *p, int32_t n) {
    int32_t c = 0;
    for (; c + 4 <= n; c += 4) {
        const int32_t a0 = a[c], a1 = a[c + 1], a2 = a[c + 2], a3 = a[c + 3];
        const int32_t p0 = p[c], p1 = p[c + 1], p2 = p[c + 2], p3 = p[c + 3];
        a[c] = a0 + p0;
        a[c + 1] = a1 + p1;
        a[c + 2] = a2 + p2;
        a[c + 3] = a3 + p3;
    }
    for (; c < n; ++c) a[c] += p[c];
}

/**
 * Centroid of one cluster: `dst[l] = sign(sum[l]) * ((|sum[l]| + n / 2) / n)`.
 */
static inline void mnn_trec_centroid(const int32_t *sum, int32_t n, int32_t len, int16_t *dst) {
    if (n == 1) {
        for (int32_t l = 0; l < len; ++l) dst[l] = (int16_t)sum[l];
        return;
    }
    const int32_t half = n >> 1;
    for (int32_t l = 0; l < len; ++l) {
        const int32_t s = sum[l];
        dst[l] = (int16_t)(s >= 0 ? (s + half) / n : -((-s + half) / n));
    }
}

/**
 * Gathers block `[k0, k0 + len)` of the im2col rows of output positions
 * `[pos0, pos0 + rows)` into `dst` (row stride `lp` int16, element order of
 * mnn_trec_perm()), input offset added, padding 0.
 */
void mnn_trec_gather_s16(const mnn_trec_conv_params *conv, const int8_t *input, int32_t pos0,
                         int32_t rows, int32_t k0, int32_t len, int16_t *dst, int32_t lp);

/**
 * Adds bias, requantises, offsets and clamps `rows` accumulator rows (`[rows][C_out]`) into
 * the output rows starting at output position `pos0`.
 */
void mnn_trec_requant_tile_s8(const mnn_trec_conv_params *conv,
                              const mnn_per_channel_quant *quant, const int32_t *bias,
                              const int32_t *acc, int32_t pos0, int32_t rows, int8_t *output);

#endif /* MNN_TREC_INTERNAL_H */
