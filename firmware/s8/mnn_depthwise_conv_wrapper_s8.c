/**
 * @file mnn_depthwise_conv_wrapper_s8.c
 * @brief Picks the int8 depthwise kernel from the shapes.
 */
#include "mnn_s8_internal.h"

mnn_status mnn_depthwise_conv_wrapper_s8(const mnn_context *ctx, const mnn_conv_params *params,
                                         const mnn_per_channel_quant *quant,
                                         const mnn_dims *input_dims, const int8_t *input,
                                         const mnn_dims *filter_dims, const int8_t *filter,
                                         const int32_t *bias, const mnn_dims *output_dims,
                                         int8_t *output)
{
    if (params != NULL && filter_dims != NULL && filter_dims->h == 3 && filter_dims->w == 3 &&
        params->padding.h <= 1 && params->padding.w <= 1) {
        return mnn_depthwise_conv_3x3_s8(ctx, params, quant, input_dims, input, filter_dims,
                                         filter, bias, output_dims, output);
    }
    return mnn_depthwise_conv_s8(ctx, params, quant, input_dims, input, filter_dims, filter,
                                 bias, output_dims, output);
}
