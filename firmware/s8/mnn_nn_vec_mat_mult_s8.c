/**
 * @file mnn_nn_vec_mat_mult_s8.c
 * @brief One int8 row times an int8 filter matrix, two output channels per step (internal).
 *
 * With MNN_DSP the row word is split once into (x0, x2) + off and (x1, x3) + off by SXTAB16
 * and shared by the two filter rows: per four elements 3 loads, 6 extends and 4 SMLADs
 * for 8 multiply-accumulates.  Tail: one plain-C loop.
 */
#include "mnn_s8_internal.h"

int8_t *mnn_nn_vec_mat_mult_s8(const int8_t *x, const int8_t *filter, int32_t out_c,
                               int32_t k, int32_t input_offset, const mnn_s8_out *o,
                               int8_t *out)
{
    MNN_S8_OUT_LOCALS(o);
#if MNN_DSP
    const uint32_t off2 = mnn_pack_offset(input_offset);
#endif
    int32_t oc = 0;
    for (; oc + 2 <= out_c; oc += 2) {
        const int8_t *w0 = filter + (size_t)oc * k;
        int32_t a0 = bias[oc];
        int32_t a1 = bias[oc + 1];
        int32_t i = 0;
#if MNN_DSP
        {
            const int8_t *xp = x;
            const int8_t *wp = w0;
            const int8_t *const xend = x + (k & ~3);
            while (xp < xend) {
                const uint32_t xv = mnn_read_u32(xp);
                const uint32_t xe = mnn_sxtab16(off2, xv);
                const uint32_t xo = mnn_sxtab16_ror8(off2, xv);
                const uint32_t wa = mnn_read_u32(wp);
                const uint32_t wb = mnn_read_u32(wp + k);
                a0 = mnn_smlad(mnn_sxtb16(wa), xe, a0);
                a0 = mnn_smlad(mnn_sxtb16_ror8(wa), xo, a0);
                a1 = mnn_smlad(mnn_sxtb16(wb), xe, a1);
                a1 = mnn_smlad(mnn_sxtb16_ror8(wb), xo, a1);
                xp += 4;
                wp += 4;
            }
            i = k & ~3;
        }
#endif
        for (; i < k; i++) {
            const int32_t xv = x[i] + input_offset;
            a0 += w0[i] * xv;
            a1 += w0[k + i] * xv;
        }
        out[oc] = mnn_s8_finish(a0, mult[oc], shift[oc], out_off, act_min, act_max);
        out[oc + 1] = mnn_s8_finish(a1, mult[oc + 1], shift[oc + 1], out_off, act_min, act_max);
    }
    if (oc < out_c) {
        const int8_t *w0 = filter + (size_t)oc * k;
        int32_t a0 = bias[oc];
        int32_t i = 0;
#if MNN_DSP
        for (; i + 4 <= k; i += 4) {
            const uint32_t xv = mnn_read_u32(x + i);
            const uint32_t wa = mnn_read_u32(w0 + i);
            a0 = mnn_smlad(mnn_sxtb16(wa), mnn_sxtab16(off2, xv), a0);
            a0 = mnn_smlad(mnn_sxtb16_ror8(wa), mnn_sxtab16_ror8(off2, xv), a0);
        }
#endif
        for (; i < k; i++) {
            a0 += w0[i] * (x[i] + input_offset);
        }
        out[oc] = mnn_s8_finish(a0, mult[oc], shift[oc], out_off, act_min, act_max);
    }
    return out + out_c;
}
