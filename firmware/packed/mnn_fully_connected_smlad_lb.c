/**
 * @file mnn_fully_connected_smlad_lb.c
 * @brief Fully connected layer on packed low-bit tensors, unpack-to-16-bit + SMLAD strategy (see mnn_packed.h).
 */
#include "mnn_packed_internal.h"

mnn_status mnn_fully_connected_smlad_lb(const mnn_context *ctx, const mnn_packed_layer *layer,
                                        const mnn_per_channel_quant *quant, const uint8_t *input,
                                        const uint8_t *filter, const int32_t *correction, uint8_t *output)
{
    (void)ctx;
    if (layer == NULL) {
        return MNN_ARG_ERROR;
    }
    return mnn_pk_fc_run(layer, quant, input, filter, correction, output,
                         mnn_pk_get_dot_smlad(layer->w_bits, layer->in_bits));
}
