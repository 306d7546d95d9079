/**
 * @file mnn_packed_dot_smlad.c
 * @brief Internal: unpack-to-16-bit + SMLAD dot kernels, one per bit-width pair.
 *
 * Each operand word is unpacked into 16-bit lanes with one AND of a shifted word (unsigned
 * values, zero points corrected outside), and two products are accumulated per SMLAD.  With
 * MNN_DSP == 0 the same lanes are multiplied in plain C.  The two-channel variant unpacks
 * each activation register once for two weight rows, like the packed kernels.
 */
#include "mnn_packed_internal.h"

#if MNN_DSP
#include <arm_acle.h>
#endif

static inline __attribute__((always_inline)) uint32_t mnn_pk_dual_mac(uint32_t acc, uint32_t a,
                                                                       uint32_t w)
{
#if MNN_DSP
    return (uint32_t)__smlad((int32_t)a, (int32_t)w, (int32_t)acc);
#else
    return acc + (a & 0xFFFFu) * (w & 0xFFFFu) + (a >> 16) * (w >> 16);
#endif
}

static inline __attribute__((always_inline)) void
mnn_pk_dot_smlad_impl(const uint8_t *a8, const uint8_t *w08, const uint8_t *w18, int32_t nb,
                      uint32_t *out, const int bw, const int ba, const int two)
{
    const int v = MNN_PK_BLOCK(bw, ba);
    const int aw = v * ba / 32;
    const int ww = v * bw / 32;
    const int sa = 16 / ba;
    const int sw = 16 / bw;
    uint32_t ma = mnn_pk_lane_mask((uint32_t)ba, 16u);
    uint32_t mw = mnn_pk_lane_mask((uint32_t)bw, 16u);
    MNN_PK_IN_REGISTER(ma);
    MNN_PK_IN_REGISTER(mw);
    const uint32_t *a = (const uint32_t *)(const void *)a8;
    const uint32_t *w0 = (const uint32_t *)(const void *)w08;
    const uint32_t *w1 = (const uint32_t *)(const void *)w18;
    uint32_t acc0 = 0, acc1 = 0;

#pragma GCC unroll 4
    for (int32_t b = 0; b < nb; b++) {
#pragma GCC unroll 16
        for (int m = 0; m < v / 2; m++) {
            const uint32_t A = (a[m / sa] >> (ba * (m % sa))) & ma;
            acc0 = mnn_pk_dual_mac(acc0, A, (w0[m / sw] >> (bw * (m % sw))) & mw);
            if (two) {
                acc1 = mnn_pk_dual_mac(acc1, A, (w1[m / sw] >> (bw * (m % sw))) & mw);
            }
        }
        a += aw;
        w0 += ww;
        w1 += two ? ww : 0;
    }
    out[0] = acc0;
    if (two) {
        out[1] = acc1;
    }
}

#define MNN_PK_DEFINE_SMLAD(bw, ba, s, n, wd)                                                  \
    static void mnn_pk_dot_smlad_w##bw##a##ba(const uint8_t *a, const uint8_t *w, int32_t rb,   \
                                              int32_t nb, int32_t channels, uint32_t *out)    \
    {                                                                                         \
        int32_t c = 0;                                                                        \
        for (; c + 1 < channels; c += 2) {                                                    \
            mnn_pk_dot_smlad_impl(a, w + c * rb, w + (c + 1) * rb, nb, out + c, bw, ba, 1);   \
        }                                                                                     \
        for (; c < channels; c++) {                                                           \
            mnn_pk_dot_smlad_impl(a, w + c * rb, NULL, nb, out + c, bw, ba, 0);               \
        }                                                                                     \
    }
MNN_PK_SCHEMES(MNN_PK_DEFINE_SMLAD)

mnn_pk_dot_fn mnn_pk_get_dot_smlad(int32_t w_bits, int32_t in_bits)
{
#define MNN_PK_PICK_SMLAD(bw, ba, s, n, wd)  \
    if (w_bits == (bw) && in_bits == (ba)) { \
        return mnn_pk_dot_smlad_w##bw##a##ba; \
    }
    MNN_PK_SCHEMES(MNN_PK_PICK_SMLAD)
    return NULL;
}
