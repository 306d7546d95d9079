/**
 * @file mnn_convolve_packed_lb.c
 * @brief Convolution on packed low-bit tensors, operand-packing strategy (see mnn_packed.h).
 */
#include "mnn_packed_internal.h"

mnn_status mnn_convolve_packed_lb(const mnn_context *ctx, const mnn_packed_layer *layer,
                                  const mnn_per_channel_quant *quant, const uint8_t *input,
                                  const uint8_t *filter, const int32_t *correction, uint8_t *output)
{
    if (layer == NULL) {
        return MNN_ARG_ERROR;
    }
    return mnn_pk_conv_run(ctx, layer, quant, input, filter, correction, output,
                           mnn_pk_get_dot_mul(layer->w_bits, layer->in_bits));
}
