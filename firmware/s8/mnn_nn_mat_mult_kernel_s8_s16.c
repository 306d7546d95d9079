/**
 * @file mnn_nn_mat_mult_kernel_s8_s16.c
 * @brief 2 output channels x 2 pixels register-tiled matrix kernel on im2col columns (internal).
 *
 * With MNN_DSP the columns are int16 with the input offset included and each full group of
 * four elements stored as (0, 2, 1, 3); one 32-bit filter word w = (w0, w1, w2, w3) gives
 * SXTB16(w) = (w0, w2) and SXTB16(w, ROR 8) = (w1, w3), so two SMLADs against the two column
 * words accumulate the four products.  Per four elements of k the 2x2 tile does 8 SMLADs on
 * 4 column loads and 2 filter loads.  The tail (k mod 4) is one shared plain-C loop.
 */
#include "mnn_s8_internal.h"

int8_t *mnn_nn_mat_mult_kernel_s8_s16(const int8_t *filter, const mnn_col_t *cols,
                                      int32_t num_cols, int32_t out_c, int32_t k,
                                      int32_t col_offset, const mnn_s8_out *o, int8_t *out)
{
    MNN_S8_OUT_LOCALS(o);
#if MNN_DSP
    const int32_t off = 0;
    (void)col_offset;
#else
    const int32_t off = col_offset;
#endif
    const mnn_col_t *c0 = cols;
    const mnn_col_t *c1 = num_cols > 1 ? cols + k : cols;
    int8_t *out1 = out + out_c;
    int32_t oc = 0;

    for (; oc + 2 <= out_c; oc += 2) {
        const int8_t *w0 = filter + (size_t)oc * k;
        const int8_t *w1 = w0 + k;
        int32_t a00 = bias[oc]; /* channel oc, pixel 0 */
        int32_t a01 = a00;         /* channel oc, pixel 1 */
        int32_t a10 = bias[oc + 1];
        int32_t a11 = a10;
        int32_t i = 0;
#if MNN_DSP
        {
            /* Walk one filter pointer and one column pointer; the second row and column
             * are at fixed offsets, which keeps the loop free of register spills. */
            const int8_t *wp = w0;
            const int8_t *const wend = w0 + (k & ~3);
            const int16_t *cp = c0;
            const int32_t c1_off = (int32_t)(c1 - c0);
            while (wp < wend) {
                const uint32_t wa = mnn_read_u32(wp);
                const uint32_t wb = mnn_read_u32(wp + k);
                const uint32_t x0e = mnn_read_u32(cp);
                const uint32_t x0o = mnn_read_u32(cp + 2);
                const uint32_t wa_e = mnn_sxtb16(wa);
                const uint32_t wa_o = mnn_sxtb16_ror8(wa);
                a00 = mnn_smlad(wa_e, x0e, a00);
                a00 = mnn_smlad(wa_o, x0o, a00);
                const uint32_t wb_e = mnn_sxtb16(wb);
                const uint32_t wb_o = mnn_sxtb16_ror8(wb);
                a10 = mnn_smlad(wb_e, x0e, a10);
                a10 = mnn_smlad(wb_o, x0o, a10);
                const uint32_t x1e = mnn_read_u32(cp + c1_off);
                const uint32_t x1o = mnn_read_u32(cp + c1_off + 2);
                a01 = mnn_smlad(wa_e, x1e, a01);
                a01 = mnn_smlad(wa_o, x1o, a01);
                a11 = mnn_smlad(wb_e, x1e, a11);
                a11 = mnn_smlad(wb_o, x1o, a11);
                wp += 4;
                cp += 4;
            }
            i = k & ~3;
        }
#endif
        for (; i < k; i++) {
            const int32_t x0 = c0[i] + off;
            const int32_t x1 = c1[i] + off;
            a00 += w0[i] * x0;
            a10 += w1[i] * x0;
            a01 += w0[i] * x1;
            a11 += w1[i] * x1;
        }
        out[oc] = mnn_s8_finish(a00, mult[oc], shift[oc], out_off, act_min, act_max);
        out[oc + 1] = mnn_s8_finish(a10, mult[oc + 1], shift[oc + 1], out_off, act_min, act_max);
        if (num_cols > 1) {
            out1[oc] = mnn_s8_finish(a01, mult[oc], shift[oc], out_off, act_min, act_max);
            out1[oc + 1] = mnn_s8_finish(a11, mult[oc + 1], shift[oc + 1], out_off, act_min, act_max);
        }
    }
    if (oc < out_c) {
        const int8_t *w0 = filter + (size_t)oc * k;
        int32_t a00 = bias[oc];
        int32_t a01 = a00;
        int32_t i = 0;
#if MNN_DSP
        for (; i + 4 <= k; i += 4) {
            const uint32_t wa = mnn_read_u32(w0 + i);
            const uint32_t wa_e = mnn_sxtb16(wa);
            const uint32_t wa_o = mnn_sxtb16_ror8(wa);
            a00 = mnn_smlad(wa_e, mnn_read_u32(c0 + i), a00);
            a00 = mnn_smlad(wa_o, mnn_read_u32(c0 + i + 2), a00);
            a01 = mnn_smlad(wa_e, mnn_read_u32(c1 + i), a01);
            a01 = mnn_smlad(wa_o, mnn_read_u32(c1 + i + 2), a01);
        }
#endif
        for (; i < k; i++) {
            a00 += w0[i] * (c0[i] + off);
            a01 += w0[i] * (c1[i] + off);
        }
        out[oc] = mnn_s8_finish(a00, mult[oc], shift[oc], out_off, act_min, act_max);
        if (num_cols > 1) {
            out1[oc] = mnn_s8_finish(a01, mult[oc], shift[oc], out_off, act_min, act_max);
        }
    }
    return out + (size_t)num_cols * out_c;
}
