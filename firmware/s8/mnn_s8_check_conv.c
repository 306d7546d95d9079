/**
 * @file mnn_s8_check_conv.c
 * @brief Shared argument validation of the s8 convolution kernels (internal).
 */
#include "mnn_s8_internal.h"

static int32_t dims_positive(const mnn_dims *d)
{
    return d->n >= 1 && d->h >= 1 && d->w >= 1 && d->c >= 1;
}

mnn_status mnn_s8_check_conv(const mnn_conv_params *params, const mnn_per_channel_quant *quant,
                             const mnn_dims *input_dims, const int8_t *input,
                             const mnn_dims *filter_dims, const int8_t *filter,
                             const int32_t *bias, const mnn_dims *output_dims,
                             const int8_t *output, int32_t depthwise)
{
    if (params == NULL || quant == NULL || quant->multiplier == NULL || quant->shift == NULL ||
        input_dims == NULL || input == NULL || filter_dims == NULL || filter == NULL ||
        bias == NULL || output_dims == NULL || output == NULL) {
        return MNN_ARG_ERROR;
    }
    if (!dims_positive(input_dims) || !dims_positive(filter_dims) || !dims_positive(output_dims)) {
        return MNN_ARG_ERROR;
    }
    if (params->dilation.h != 1 || params->dilation.w != 1) {
        return MNN_ARG_ERROR;
    }
    if (!mnn_s8_offsets_ok(params->input_offset, params->output_offset) ||
        !mnn_s8_activation_ok(&params->activation)) {
        return MNN_ARG_ERROR;
    }
    if (filter_dims->c != input_dims->c || output_dims->n != input_dims->n) {
        return MNN_ARG_ERROR;
    }
    if (depthwise ? (filter_dims->n != 1 || output_dims->c != input_dims->c)
                  : (output_dims->c != filter_dims->n)) {
        return MNN_ARG_ERROR;
    }
    if (!mnn_s8_axis_ok(input_dims->h, output_dims->h, filter_dims->h, params->stride.h,
                        params->padding.h) ||
        !mnn_s8_axis_ok(input_dims->w, output_dims->w, filter_dims->w, params->stride.w,
                        params->padding.w)) {
        return MNN_ARG_ERROR;
    }
    return MNN_OK;
}
