/**
 * @file mnn_convolve_s8.c
 * @brief Generic int8 convolution: im2col of two output pixels, then the 2x2 matrix kernel.
 */
#include "mnn_s8_internal.h"

mnn_status mnn_convolve_s8(const mnn_context *ctx, const mnn_conv_params *params,
                           const mnn_per_channel_quant *quant, const mnn_dims *input_dims,
                           const int8_t *input, const mnn_dims *filter_dims, const int8_t *filter,
                           const int32_t *bias, const mnn_dims *output_dims, int8_t *output)
{
    const mnn_status st = mnn_s8_check_conv(params, quant, input_dims, input, filter_dims,
                                            filter, bias, output_dims, output, 0);
    if (st != MNN_OK) {
        return st;
    }
    const int32_t need = mnn_convolve_s8_get_buffer_size(input_dims, filter_dims);
    if (ctx == NULL || ctx->buf == NULL || ctx->size < need) {
        return MNN_NO_SCRATCH;
    }
    const int32_t k = input_dims->c * filter_dims->h * filter_dims->w;
    const int32_t out_c = output_dims->c;
    const mnn_s8_out o = {bias, quant->multiplier, quant->shift, params->output_offset,
                          params->activation.min, params->activation.max};
    mnn_col_t *cols = (mnn_col_t *)ctx->buf;
    const size_t in_size = (size_t)input_dims->h * input_dims->w * input_dims->c;

    for (int32_t b = 0; b < input_dims->n; b++) {
        const int8_t *in = input + b * in_size;
        int8_t *out = output + (size_t)b * output_dims->h * output_dims->w * out_c;
        int32_t pending = 0;
        for (int32_t oy = 0; oy < output_dims->h; oy++) {
            for (int32_t ox = 0; ox < output_dims->w; ox++) {
                mnn_s8_im2col(params, input_dims, in, filter_dims, oy, ox, cols + pending * k);
                if (++pending == 2) {
                    out = mnn_nn_mat_mult_kernel_s8_s16(filter, cols, 2, out_c, k,
                                                        params->input_offset, &o, out);
                    pending = 0;
                }
            }
        }
        if (pending) {
            out = mnn_nn_mat_mult_kernel_s8_s16(filter, cols, 1, out_c, k,
                                                params->input_offset, &o, out);
        }
    }
    return MNN_OK;
}
