/**
 * @file mnn_nn_mat_mult_s8.c
 * @brief int8 rows x int8 filter, 2 rows x 2 output channels per step, no scratch (internal).
 *
 * Used by the 1x1 convolution (rows = input pixels) and the fully connected kernel
 * (rows = batch).  With MNN_DSP each 32-bit row word x gives SXTAB16(off, x) = (x0, x2) + off
 * and SXTAB16(off, x, ROR 8) = (x1, x3) + off, matched with SXTB16 of the filter word, so
 * SMLAD accumulates four products per pair of instructions.  Tail: one plain-C loop;
 * a last odd row goes to mnn_nn_vec_mat_mult_s8().
 */
#include "mnn_s8_internal.h"

int8_t *mnn_nn_mat_mult_s8(const int8_t *lhs, int32_t rows, int32_t row_stride,
                           const int8_t *filter, int32_t out_c, int32_t k,
                           int32_t input_offset, const mnn_s8_out *o, int8_t *out)
{
    MNN_S8_OUT_LOCALS(o);
#if MNN_DSP
    const uint32_t off2 = mnn_pack_offset(input_offset);
#endif
    int32_t r = 0;
    for (; r + 2 <= rows; r += 2) {
        const int8_t *x0 = lhs + (size_t)r * row_stride;
        const int8_t *x1 = x0 + row_stride;
        int8_t *out1 = out + out_c;
        int32_t oc = 0;
        for (; oc + 2 <= out_c; oc += 2) {
            const int8_t *w0 = filter + (size_t)oc * k;
            const int8_t *w1 = w0 + k;
            int32_t a00 = bias[oc];
            int32_t a01 = a00;
            int32_t a10 = bias[oc + 1];
            int32_t a11 = a10;
            int32_t i = 0;
#if MNN_DSP
            for (; i + 4 <= k; i += 4) {
                const uint32_t wa = mnn_read_u32(w0 + i);
                const uint32_t wb = mnn_read_u32(w1 + i);
                const uint32_t xa = mnn_read_u32(x0 + i);
                const uint32_t xb = mnn_read_u32(x1 + i);
                const uint32_t wa_e = mnn_sxtb16(wa);
                const uint32_t wa_o = mnn_sxtb16_ror8(wa);
                const uint32_t wb_e = mnn_sxtb16(wb);
                const uint32_t wb_o = mnn_sxtb16_ror8(wb);
                const uint32_t xa_e = mnn_sxtab16(off2, xa);
                const uint32_t xa_o = mnn_sxtab16_ror8(off2, xa);
                const uint32_t xb_e = mnn_sxtab16(off2, xb);
                const uint32_t xb_o = mnn_sxtab16_ror8(off2, xb);
                a00 = mnn_smlad(wa_e, xa_e, a00);
                a00 = mnn_smlad(wa_o, xa_o, a00);
                a10 = mnn_smlad(wb_e, xa_e, a10);
                a10 = mnn_smlad(wb_o, xa_o, a10);
                a01 = mnn_smlad(wa_e, xb_e, a01);
                a01 = mnn_smlad(wa_o, xb_o, a01);
                a11 = mnn_smlad(wb_e, xb_e, a11);
                a11 = mnn_smlad(wb_o, xb_o, a11);
            }
#endif
            for (; i < k; i++) {
                const int32_t xa = x0[i] + input_offset;
                const int32_t xb = x1[i] + input_offset;
                a00 += w0[i] * xa;
                a10 += w1[i] * xa;
                a01 += w0[i] * xb;
                a11 += w1[i] * xb;
            }
            out[oc] = mnn_s8_finish(a00, mult[oc], shift[oc], out_off, act_min, act_max);
            out[oc + 1] = mnn_s8_finish(a10, mult[oc + 1], shift[oc + 1], out_off, act_min, act_max);
            out1[oc] = mnn_s8_finish(a01, mult[oc], shift[oc], out_off, act_min, act_max);
            out1[oc + 1] = mnn_s8_finish(a11, mult[oc + 1], shift[oc + 1], out_off, act_min, act_max);
        }
        if (oc < out_c) {
            const int8_t *w0 = filter + (size_t)oc * k;
            int32_t a00 = bias[oc];
            int32_t a01 = a00;
            int32_t i = 0;
#if MNN_DSP
            for (; i + 4 <= k; i += 4) {
                const uint32_t wa = mnn_read_u32(w0 + i);
                const uint32_t xa = mnn_read_u32(x0 + i);
                const uint32_t xb = mnn_read_u32(x1 + i);
                const uint32_t wa_e = mnn_sxtb16(wa);
                const uint32_t wa_o = mnn_sxtb16_ror8(wa);
                a00 = mnn_smlad(wa_e, mnn_sxtab16(off2, xa), a00);
                a00 = mnn_smlad(wa_o, mnn_sxtab16_ror8(off2, xa), a00);
                a01 = mnn_smlad(wa_e, mnn_sxtab16(off2, xb), a01);
                a01 = mnn_smlad(wa_o, mnn_sxtab16_ror8(off2, xb), a01);
            }
#endif
            for (; i < k; i++) {
                a00 += w0[i] * (x0[i] + input_offset);
                a01 += w0[i] * (x1[i] + input_offset);
            }
            out[oc] = mnn_s8_finish(a00, mult[oc], shift[oc], out_off, act_min, act_max);
            out1[oc] = mnn_s8_finish(a01, mult[oc], shift[oc], out_off, act_min, act_max);
        }
        out += (size_t)2 * out_c;
    }
    if (r < rows) {
        out = mnn_nn_vec_mat_mult_s8(lhs + (size_t)r * row_stride, filter, out_c, k,
                                     input_offset, o, out);
    }
    return out;
}
