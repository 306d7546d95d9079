/**
 * @file mnn_convolve_1x1_s8.c
 * @brief 1x1 int8 convolution without im2col: input pixels are the matrix rows.
 */
#include "mnn_s8_internal.h"

mnn_status mnn_convolve_1x1_s8(const mnn_context *ctx, const mnn_conv_params *params,
                               const mnn_per_channel_quant *quant, const mnn_dims *input_dims,
                               const int8_t *input, const mnn_dims *filter_dims,
                               const int8_t *filter, const int32_t *bias,
                               const mnn_dims *output_dims, int8_t *output)
{
    (void)ctx;
    const mnn_status st = mnn_s8_check_conv(params, quant, input_dims, input, filter_dims,
                                            filter, bias, output_dims, output, 0);
    if (st != MNN_OK) {
        return st;
    }
    if (filter_dims->h != 1 || filter_dims->w != 1 || params->padding.h != 0 ||
        params->padding.w != 0) {
        return MNN_ARG_ERROR;
    }
    const int32_t c = input_dims->c;
    const int32_t out_c = output_dims->c;
    const mnn_s8_out o = {bias, quant->multiplier, quant->shift, params->output_offset,
                          params->activation.min, params->activation.max};
    const size_t in_size = (size_t)input_dims->h * input_dims->w * c;
    int8_t *out = output;

    for (int32_t b = 0; b < input_dims->n; b++) {
        const int8_t *in = input + b * in_size;
        if (params->stride.h == 1 && params->stride.w == 1) {
            out = mnn_nn_mat_mult_s8(in, output_dims->h * output_dims->w, c, filter, out_c, c,
                                     params->input_offset, &o, out);
            continue;
        }
        for (int32_t oy = 0; oy < output_dims->h; oy++) {
            const int8_t *row = in + (size_t)oy * params->stride.h * input_dims->w * c;
            out = mnn_nn_mat_mult_s8(row, output_dims->w, params->stride.w * c, filter, out_c, c,
                                     params->input_offset, &o, out);
        }
    }
    return MNN_OK;
}
