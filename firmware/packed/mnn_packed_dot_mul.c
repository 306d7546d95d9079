/**
 * @file mnn_packed_dot_mul.c
 * @brief Internal: operand-packing dot kernels, one per bit-width pair (see mnn_packed.h).
 *
 * One always-inline template, instantiated with constants so that the block loop unrolls
 * into LDR, AND-with-shifted-operand, MLA (UMLAL for w8a8) and one ADD with LSR per drain.
 * The two-channel variant extracts each activation register once for two weight rows.
 */
#include "mnn_packed_internal.h"

/* 64-bit unsigned multiply-accumulate {hi, lo} += a * b (one UMLAL). */
static inline __attribute__((always_inline)) void mnn_pk_umlal(uint32_t *lo, uint32_t *hi,
                                                               uint32_t a, uint32_t b)
{
    __asm__("umlal %0, %1, %2, %3" : "+r"(*lo), "+r"(*hi) : "r"(a), "r"(b));
}

/* Packed sums of one or two channels: narrow schemes use p[c], w8a8 uses {hi[c], lo[c]}. */
typedef struct {
    uint32_t lo[2];
    uint32_t hi[2];
} mnn_pk_sums;

/* One block of V values into the packed sums (wide: w8a8, lanes 24 bits apart). */
static inline __attribute__((always_inline)) void
mnn_pk_mul_block(mnn_pk_sums *p, const uint32_t *a, const uint32_t *w0, const uint32_t *w1,
                 const uint32_t ma, const uint32_t mw, const int bw, const int ba, const int s,
                 const int n, const int wide, const int two)
{
    if (wide) { /* bytes (0, 3) then (2, 1), UMLAL; lane 1 = bits 24..47 */
        const uint32_t x = *a;
        const uint32_t a0 = x & ma;
        const uint32_t a1 = mnn_pk_ror(x, 16) & ma;
        const uint32_t y0 = *w0;
        mnn_pk_umlal(&p->lo[0], &p->hi[0], a0, y0 & ma);
        mnn_pk_umlal(&p->lo[0], &p->hi[0], a1, mnn_pk_ror(y0, 16) & ma);
        if (two) {
            const uint32_t y1 = *w1;
            mnn_pk_umlal(&p->lo[1], &p->hi[1], a0, y1 & ma);
            mnn_pk_umlal(&p->lo[1], &p->hi[1], a1, mnn_pk_ror(y1, 16) & ma);
        }
        return;
    }
    const int v = MNN_PK_BLOCK(bw, ba);
    const int sa = s / ba; /* sub-registers per activation word */
    const int sw = s / bw; /* sub-registers per weight word */
#pragma GCC unroll 16
    for (int m = 0; m < v / n; m++) {
        const uint32_t A = (a[m / sa] >> (ba * (m % sa))) & ma;
        p->lo[0] += A * ((w0[m / sw] >> (bw * (m % sw))) & mw);
        if (two) {
            p->lo[1] += A * ((w1[m / sw] >> (bw * (m % sw))) & mw);
        }
    }
}

/* As mnn_pk_mul_block, draining lane n-1 after every multiply (R_max < multiplies/block). */
static inline __attribute__((always_inline)) void
mnn_pk_mul_block_drain(uint32_t *acc, const uint32_t *a, const uint32_t *w0, const uint32_t *w1,
                       const uint32_t ma, const uint32_t mw, const int bw, const int ba,
                       const int s, const int n, const int two)
{
    const int v = MNN_PK_BLOCK(bw, ba);
    const int sa = s / ba;
    const int sw = s / bw;
#pragma GCC unroll 16
    for (int m = 0; m < v / n; m++) {
        const uint32_t A = (a[m / sa] >> (ba * (m % sa))) & ma;
        acc[0] += (A * ((w0[m / sw] >> (bw * (m % sw))) & mw)) >> (32 - s);
        if (two) {
            acc[1] += (A * ((w1[m / sw] >> (bw * (m % sw))) & mw)) >> (32 - s);
        }
    }
}

/* Add lane n-1 of the packed sums to the accumulators and clear the sums. */
static inline __attribute__((always_inline)) void
mnn_pk_drain(uint32_t *acc, mnn_pk_sums *p, const int s, const int wide, const int two)
{
    for (int c = 0; c < (two ? 2 : 1); c++) {
        if (wide) {
            acc[c] += ((p->lo[c] >> 24) | (p->hi[c] << 8)) & 0x00FFFFFFu;
            p->hi[c] = 0;
        } else {
            acc[c] += p->lo[c] >> (32 - s); /* lane n-1 is the top lane */
        }
        p->lo[c] = 0;
    }
}

static inline __attribute__((always_inline)) void
mnn_pk_dot_mul_impl(const uint8_t *a8, const uint8_t *w08, const uint8_t *w18, int32_t nb,
                    uint32_t *out, const int bw, const int ba, const int s, const int n,
                    const int wide, const int two)
{
    const int v = MNN_PK_BLOCK(bw, ba);
    const int aw = v * ba / 32; /* activation words per block */
    const int ww = v * bw / 32; /* weight words per block */
    const int mb = v / n;       /* multiplies per block */
    const int32_t drain = (int32_t)(MNN_PK_RMAX(bw, ba, s, n) / (uint32_t)mb);
    const uint32_t *a = (const uint32_t *)(const void *)a8;
    const uint32_t *w0 = (const uint32_t *)(const void *)w08;
    const uint32_t *w1 = (const uint32_t *)(const void *)w18;
    uint32_t ma = wide ? 0xFF0000FFu : mnn_pk_lane_mask((uint32_t)ba, (uint32_t)s);
    uint32_t mw = wide ? 0xFF0000FFu : mnn_pk_lane_mask((uint32_t)bw, (uint32_t)s);
    MNN_PK_IN_REGISTER(ma);
    if (!wide) {
        MNN_PK_IN_REGISTER(mw);
    }
    uint32_t acc[2] = {0, 0};
    mnn_pk_sums p = {{0, 0}, {0, 0}};

    if (drain == 0) {
        for (int32_t i = 0; i < nb; i++) {
            mnn_pk_mul_block_drain(acc, a, w0, w1, ma, mw, bw, ba, s, n, two);
            a += aw;
            w0 += ww;
            w1 += two ? ww : 0;
        }
    } else {
        /* full runs of `drain` blocks (constant trip count), then one partial run */
        for (int32_t r = nb / drain; r > 0; r--) {
#pragma GCC unroll 1
            for (int32_t i = 0; i < drain; i++) {
                mnn_pk_mul_block(&p, a, w0, w1, ma, mw, bw, ba, s, n, wide, two);
                a += aw;
                w0 += ww;
                w1 += two ? ww : 0;
            }
            mnn_pk_drain(acc, &p, s, wide, two);
        }
        for (int32_t i = nb % drain; i > 0; i--) {
            mnn_pk_mul_block(&p, a, w0, w1, ma, mw, bw, ba, s, n, wide, two);
            a += aw;
            w0 += ww;
            w1 += two ? ww : 0;
        }
        mnn_pk_drain(acc, &p, s, wide, two);
    }
    out[0] = acc[0];
    if (two) {
        out[1] = acc[1];
    }
}

#define MNN_PK_DEFINE_MUL(bw, ba, s, n, wd)                                                    \
    static void mnn_pk_dot_mul_w##bw##a##ba(const uint8_t *a, const uint8_t *w, int32_t rb,     \
                                            int32_t nb, int32_t channels, uint32_t *out)      \
    {                                                                                         \
        int32_t c = 0;                                                                        \
        if (MNN_PK_TILE2_MUL(bw, ba)) {                                                       \
            for (; c + 1 < channels; c += 2) {                                                \
                mnn_pk_dot_mul_impl(a, w + c * rb, w + (c + 1) * rb, nb, out + c, bw, ba, s,  \
                                    n, wd, 1);                                                \
            }                                                                                 \
        }                                                                                     \
        for (; c < channels; c++) {                                                           \
            mnn_pk_dot_mul_impl(a, w + c * rb, NULL, nb, out + c, bw, ba, s, n, wd, 0);       \
        }                                                                                     \
    }
MNN_PK_SCHEMES(MNN_PK_DEFINE_MUL)

mnn_pk_dot_fn mnn_pk_get_dot_mul(int32_t w_bits, int32_t in_bits)
{
#define MNN_PK_PICK_MUL(bw, ba, s, n, wd)    \
    if (w_bits == (bw) && in_bits == (ba)) { \
        return mnn_pk_dot_mul_w##bw##a##ba;  \
    }
    MNN_PK_SCHEMES(MNN_PK_PICK_MUL)
    return NULL;
}
