/**
 * @file mnn_trec_conv_s8_get_buffer_size.c
 * @brief Scratch size of mnn_trec_conv_s8 (same layout function as the kernel).
 */
#include "mnn_trec_internal.h"

int32_t mnn_trec_conv_s8_get_buffer_size(const mnn_trec_conv_params *conv,
                                         const mnn_trec_params *trec) {
    if (mnn_trec_check_params(conv, trec) != MNN_OK || trec->hash_bits > conv->output.c) return 0;
    return mnn_trec_layout_space(conv, trec).total;
}
