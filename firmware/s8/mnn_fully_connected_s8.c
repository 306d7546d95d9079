/**
 * @file mnn_fully_connected_s8.c
 * @brief int8 fully connected layer (batch rows x weight rows, no scratch).
 */
#include "mnn_s8_internal.h"

mnn_status mnn_fully_connected_s8(const mnn_context *ctx, const mnn_fc_params *params,
                                  const mnn_per_channel_quant *quant, const mnn_dims *input_dims,
                                  const int8_t *input, const mnn_dims *filter_dims,
                                  const int8_t *filter, const int32_t *bias,
                                  const mnn_dims *output_dims, int8_t *output)
{
    (void)ctx;
    if (params == NULL || quant == NULL || quant->multiplier == NULL || quant->shift == NULL ||
        input_dims == NULL || input == NULL || filter_dims == NULL || filter == NULL ||
        bias == NULL || output_dims == NULL || output == NULL) {
        return MNN_ARG_ERROR;
    }
    if (input_dims->n < 1 || input_dims->h < 1 || input_dims->w < 1 || input_dims->c < 1 ||
        filter_dims->n < 1 || filter_dims->h != 1 || filter_dims->w != 1) {
        return MNN_ARG_ERROR;
    }
    const int32_t k = input_dims->h * input_dims->w * input_dims->c;
    if (filter_dims->c != k || output_dims->n != input_dims->n || output_dims->h != 1 ||
        output_dims->w != 1 || output_dims->c != filter_dims->n) {
        return MNN_ARG_ERROR;
    }
    if (!mnn_s8_offsets_ok(params->input_offset, params->output_offset) ||
        !mnn_s8_activation_ok(&params->activation)) {
        return MNN_ARG_ERROR;
    }
    const mnn_s8_out o = {bias, quant->multiplier, quant->shift, params->output_offset,
                          params->activation.min, params->activation.max};
    mnn_nn_mat_mult_s8(input, input_dims->n, k, filter, output_dims->c, k, params->input_offset,
                       &o, output);
    return MNN_OK;
}
