/**
 * @file mnn_packed_row_bytes.c
 * @brief Bytes of one packed weight or im2col row, padded to whole blocks of the pair.
 */
#include "mnn_packed_internal.h"

int32_t mnn_packed_row_bytes(int32_t k, int32_t bits, int32_t w_bits, int32_t in_bits)
{
    if (k < 0 || bits <= 0 || w_bits <= 0 || in_bits <= 0) {
        return 0;
    }
    const int32_t v = MNN_PK_BLOCK(w_bits, in_bits);
    return (k + v - 1) / v * v * bits / 8;
}
