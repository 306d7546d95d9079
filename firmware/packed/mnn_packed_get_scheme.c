/**
 * @file mnn_packed_get_scheme.c
 * @brief The packing scheme compiled into the kernels for one bit-width pair.
 */
#include "mnn_packed_internal.h"

mnn_status mnn_packed_get_scheme(int32_t w_bits, int32_t in_bits, mnn_packed_scheme *scheme)
{
    if (scheme == NULL) {
        return MNN_ARG_ERROR;
    }
#define MNN_PK_FILL(bw, ba, s, n, wd)                                             \
    if (w_bits == (bw) && in_bits == (ba)) {                                        \
        scheme->lane_bits = (s);                                                    \
        scheme->lanes = (n);                                                        \
        scheme->wide = (wd);                                                      \
        scheme->max_run = (int32_t)MNN_PK_RMAX(bw, ba, s, n);                       \
        scheme->block_values = MNN_PK_BLOCK(bw, ba);                                \
        scheme->block_mults = MNN_PK_BLOCK(bw, ba) / (n);                           \
        scheme->drain_blocks = (int32_t)MNN_PK_RMAX(bw, ba, s, n) / (MNN_PK_BLOCK(bw, ba) / (n)); \
        return MNN_OK;                                                              \
    }
    MNN_PK_SCHEMES(MNN_PK_FILL)
    return MNN_ARG_ERROR;
}
