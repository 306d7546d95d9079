/**
 * @file mnn_max_pool_s8.c
 * @brief int8 max pooling (padded pixels ignored), then the activation clamp.
 *
 * With MNN_DSP four channels per step: SSUB8 sets the GE flags per byte and SEL keeps the
 * larger byte.
 */
#include "mnn_s8_internal.h"

mnn_status mnn_max_pool_s8(const mnn_pool_params *params, const mnn_dims *input_dims,
                           const int8_t *input, const mnn_dims *output_dims, int8_t *output)
{
    const mnn_status st = mnn_s8_check_pool(params, input_dims, input, output_dims, output);
    if (st != MNN_OK) {
        return st;
    }
    const int32_t ch = input_dims->c;
    const int32_t row_stride = input_dims->w * ch;
    const int32_t act_min = params->activation.min;
    const int32_t act_max = params->activation.max;
#if MNN_DSP
    const uint32_t min4 = (uint8_t)act_min * 0x01010101u;
    const uint32_t max4 = (uint8_t)act_max * 0x01010101u;
#endif
    int8_t *out = output;

    for (int32_t b = 0; b < input_dims->n; b++) {
        const int8_t *in = input + (size_t)b * input_dims->h * row_stride;
        for (int32_t oy = 0; oy < output_dims->h; oy++) {
            const int32_t y = oy * params->stride.h - params->padding.h;
            int32_t ky0, ky1;
            mnn_s8_clip_window(y, params->filter.h, input_dims->h, &ky0, &ky1);
            for (int32_t ox = 0; ox < output_dims->w; ox++) {
                const int32_t x = ox * params->stride.w - params->padding.w;
                int32_t kx0, kx1;
                mnn_s8_clip_window(x, params->filter.w, input_dims->w, &kx0, &kx1);
                const int8_t *win = in + (y + ky0) * row_stride + (x + kx0) * ch;
                const int32_t rows = ky1 - ky0;
                const int32_t cols = kx1 - kx0;
                int32_t c = 0;
#if MNN_DSP
                for (; c + 4 <= ch; c += 4) {
                    uint32_t m = 0x80808080u;
                    for (int32_t r = 0; r < rows; r++) {
                        const int8_t *p = win + r * row_stride + c;
                        for (int32_t q = 0; q < cols; q++) {
                            m = mnn_max_s8x4(mnn_read_u32(p + q * ch), m);
                        }
                    }
                    m = mnn_min_s8x4(mnn_max_s8x4(m, min4), max4);
                    mnn_write_u32(out + c, m);
                }
#endif
                for (; c < ch; c++) {
                    int32_t m = -128;
                    for (int32_t r = 0; r < rows; r++) {
                        const int8_t *p = win + r * row_stride + c;
                        for (int32_t q = 0; q < cols; q++) {
                            m = p[q * ch] > m ? p[q * ch] : m;
                        }
                    }
                    m = m < act_min ? act_min : m;
                    m = m > act_max ? act_max : m;
                    out[c] = (int8_t)m;
                }
                out += ch;
            }
        }
    }
    return MNN_OK;
}
