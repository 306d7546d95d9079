/**
 * @file mnn_avg_pool_s8.c
 * @brief int8 average pooling over the valid window, rounded half away from zero.
 *
 * With MNN_DSP the window is walked pixel by pixel and all channel sums are kept in the
 * scratch buffer (four channels per word read, SXTB16 splits them); without, each channel
 * walks the window on its own and no scratch is used.
 */
#include "mnn_s8_internal.h"

static int8_t avg_finish(int32_t sum, int32_t count, int32_t act_min, int32_t act_max)
{
    int32_t v = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
    v = v < act_min ? act_min : v;
    v = v > act_max ? act_max : v;
    return (int8_t)v;
}

mnn_status mnn_avg_pool_s8(const mnn_context *ctx, const mnn_pool_params *params,
                           const mnn_dims *input_dims, const int8_t *input,
                           const mnn_dims *output_dims, int8_t *output)
{
    const mnn_status st = mnn_s8_check_pool(params, input_dims, input, output_dims, output);
    if (st != MNN_OK) {
        return st;
    }
    const int32_t need = mnn_avg_pool_s8_get_buffer_size(output_dims);
    if (need > 0 && (ctx == NULL || ctx->buf == NULL || ctx->size < need)) {
        return MNN_NO_SCRATCH;
    }
    const int32_t ch = input_dims->c;
    const int32_t row_stride = input_dims->w * ch;
    const int32_t act_min = params->activation.min;
    const int32_t act_max = params->activation.max;
#if MNN_DSP
    int32_t *sums = (int32_t *)ctx->buf;
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
                const int32_t count = rows * cols;
#if MNN_DSP
                memset(sums, 0, (size_t)ch * sizeof(int32_t));
                for (int32_t r = 0; r < rows; r++) {
                    for (int32_t q = 0; q < cols; q++) {
                        const int8_t *p = win + r * row_stride + q * ch;
                        int32_t c = 0;
                        for (; c + 4 <= ch; c += 4) {
                            const uint32_t v = mnn_read_u32(p + c);
                            const uint32_t e = mnn_sxtb16(v);
                            const uint32_t o = mnn_sxtb16_ror8(v);
                            sums[c] += (int16_t)e;
                            sums[c + 1] += (int16_t)o;
                            sums[c + 2] += (int32_t)e >> 16;
                            sums[c + 3] += (int32_t)o >> 16;
                        }
                        for (; c < ch; c++) {
                            sums[c] += p[c];
                        }
                    }
                }
                for (int32_t c = 0; c < ch; c++) {
                    out[c] = avg_finish(sums[c], count, act_min, act_max);
                }
#else
                (void)ctx;
                for (int32_t c = 0; c < ch; c++) {
                    int32_t sum = 0;
                    for (int32_t r = 0; r < rows; r++) {
                        const int8_t *p = win + r * row_stride + c;
                        for (int32_t q = 0; q < cols; q++) {
                            sum += p[q * ch];
                        }
                    }
                    out[c] = avg_finish(sum, count, act_min, act_max);
                }
#endif
                out += ch;
            }
        }
    }
    return MNN_OK;
}
