/**
 * @file mnn_depthwise_conv_s8.c
 * @brief Generic int8 depthwise convolution, channel multiplier 1.
 */
#include "mnn_s8_internal.h"

mnn_status mnn_depthwise_conv_s8(const mnn_context *ctx, const mnn_conv_params *params,
                                 const mnn_per_channel_quant *quant, const mnn_dims *input_dims,
                                 const int8_t *input, const mnn_dims *filter_dims,
                                 const int8_t *filter, const int32_t *bias,
                                 const mnn_dims *output_dims, int8_t *output)
{
    (void)ctx;
    const mnn_status st = mnn_s8_check_conv(params, quant, input_dims, input, filter_dims,
                                            filter, bias, output_dims, output, 1);
    if (st != MNN_OK) {
        return st;
    }
    const int32_t c = input_dims->c;
    const int32_t kh = filter_dims->h;
    const int32_t kw = filter_dims->w;
    const int32_t row_stride = input_dims->w * c;
    const mnn_s8_out o = {bias, quant->multiplier, quant->shift, params->output_offset,
                          params->activation.min, params->activation.max};
    int8_t *out = output;

    for (int32_t b = 0; b < input_dims->n; b++) {
        const int8_t *in = input + (size_t)b * input_dims->h * row_stride;
        for (int32_t oy = 0; oy < output_dims->h; oy++) {
            const int32_t y = oy * params->stride.h - params->padding.h;
            int32_t ky0, ky1;
            mnn_s8_clip_window(y, kh, input_dims->h, &ky0, &ky1);
            for (int32_t ox = 0; ox < output_dims->w; ox++) {
                const int32_t x = ox * params->stride.w - params->padding.w;
                int32_t kx0, kx1;
                mnn_s8_clip_window(x, kw, input_dims->w, &kx0, &kx1);
                const int8_t *ip = in + (y + ky0) * row_stride + (x + kx0) * c;
                mnn_s8_dw_pixel(ip, row_stride, filter, kw, c, ky0, ky1, kx0, kx1,
                                params->input_offset, &o, out);
                out += c;
            }
        }
    }
    return MNN_OK;
}
