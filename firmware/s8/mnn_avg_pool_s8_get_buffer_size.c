/**
 * @file mnn_avg_pool_s8_get_buffer_size.c
 * @brief Scratch size of mnn_avg_pool_s8(): int32 channel sums with MNN_DSP, none without.
 */
#include "mnn_s8_internal.h"

int32_t mnn_avg_pool_s8_get_buffer_size(const mnn_dims *output_dims)
{
#if MNN_DSP
    return output_dims == NULL ? 0 : output_dims->c * (int32_t)sizeof(int32_t);
#else
    (void)output_dims;
    return 0;
#endif
}
