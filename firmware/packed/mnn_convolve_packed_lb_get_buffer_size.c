/**
 * @file mnn_convolve_packed_lb_get_buffer_size.c
 * @brief Scratch of ::mnn_convolve_packed_lb: one im2col row of in_bits values, word-padded.
 */
#include "mnn_packed_internal.h"

int32_t mnn_convolve_packed_lb_get_buffer_size(const mnn_packed_layer *layer)
{
    return mnn_pk_conv_scratch(layer);
}
