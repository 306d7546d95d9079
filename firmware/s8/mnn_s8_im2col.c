/**
 * @file mnn_s8_im2col.c
 * @brief im2col of one output pixel for the s8 convolution (internal).
 */
#include "mnn_s8_internal.h"

void mnn_s8_im2col(const mnn_conv_params *params, const mnn_dims *input_dims,
                   const int8_t *input, const mnn_dims *filter_dims, int32_t oy, int32_t ox,
                   mnn_col_t *col)
{
    const int32_t c = input_dims->c;
    const int32_t kh = filter_dims->h;
    const int32_t kw = filter_dims->w;
    const int32_t y0 = oy * params->stride.h - params->padding.h;
    const int32_t x0 = ox * params->stride.w - params->padding.w;
    const int8_t pad_value = (int8_t)(-params->input_offset);

#if MNN_DSP
    const int32_t k = c * kh * kw;
    /* Stage the raw int8 row in the upper half of this column, then widen it in place,
     * front to back: the int16 write of group i ends at byte 2i+8 <= K+i+4, the first
     * byte not yet read, so the staged bytes are never overwritten before use. */
    int8_t *row = (int8_t *)col + k;
#else
    int8_t *row = col;
#endif
    int8_t *dst = row;
    for (int32_t ky = 0; ky < kh; ky++) {
        const int32_t y = y0 + ky;
        if (y < 0 || y >= input_dims->h) {
            memset(dst, pad_value, (size_t)(kw * c));
            dst += kw * c;
            continue;
        }
        const int8_t *src_row = input + (size_t)y * input_dims->w * c;
        int32_t kx = 0;
        for (; kx < kw && x0 + kx < 0; kx++) {
            memset(dst, pad_value, (size_t)c);
            dst += c;
        }
        int32_t valid = kw - kx;
        if (x0 + kw > input_dims->w) {
            valid = input_dims->w - (x0 + kx);
        }
        if (valid > 0) {
            memcpy(dst, src_row + (size_t)(x0 + kx) * c, (size_t)(valid * c));
            dst += valid * c;
            kx += valid;
        }
        for (; kx < kw; kx++) {
            memset(dst, pad_value, (size_t)c);
            dst += c;
        }
    }

#if MNN_DSP
    const uint32_t off2 = mnn_pack_offset(params->input_offset);
    int16_t *out = col;
    int32_t i = 0;
    for (; i + 4 <= k; i += 4) {
        const uint32_t x = mnn_read_u32(row + i);
        const uint32_t even = mnn_sxtab16(off2, x);      /* x0, x2 */
        const uint32_t odd = mnn_sxtab16_ror8(off2, x);  /* x1, x3 */
        mnn_write_u32(out + i, even);
        mnn_write_u32(out + i + 2, odd);
    }
    for (; i < k; i++) {
        out[i] = (int16_t)(row[i] + params->input_offset);
    }
#endif
}
