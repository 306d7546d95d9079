/**
 * @file mnn_convolve_s8_get_buffer_size.c
 * @brief Scratch size of mnn_convolve_s8(): two im2col columns (element size from the build).
 */
#include "mnn_s8_internal.h"

int32_t mnn_convolve_s8_get_buffer_size(const mnn_dims *input_dims, const mnn_dims *filter_dims)
{
    if (input_dims == NULL || filter_dims == NULL) {
        return 0;
    }
    const int32_t k = input_dims->c * filter_dims->h * filter_dims->w;
    const int32_t bytes = 2 * k * MNN_S8_COL_ELEM_BYTES;
    return (bytes + 3) & ~3;
}
