/**
 * @file mnn_convolve_wrapper_s8_get_buffer_size.c
 * @brief Scratch size of mnn_convolve_wrapper_s8() (same path choice as the wrapper).
 */
#include "mnn_s8_internal.h"

int32_t mnn_convolve_wrapper_s8_get_buffer_size(const mnn_conv_params *params,
                                                const mnn_dims *input_dims,
                                                const mnn_dims *filter_dims)
{
    if (params != NULL && filter_dims != NULL && filter_dims->h == 1 && filter_dims->w == 1 &&
        params->padding.h == 0 && params->padding.w == 0) {
        return 0;
    }
    return mnn_convolve_s8_get_buffer_size(input_dims, filter_dims);
}
