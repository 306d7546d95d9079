/**
 * @file mnn_requantize_s32.c
 * @brief Element-wise TFLite requantisation of an int32 vector.
 */
#include "mnn_s8_internal.h"

mnn_status mnn_requantize_s32(const int32_t *input, const int32_t *multiplier,
                              const int32_t *shift, int32_t *output, int32_t size)
{
    if (input == NULL || multiplier == NULL || shift == NULL || output == NULL || size < 0) {
        return MNN_ARG_ERROR;
    }
    for (int32_t i = 0; i < size; i++) {
        if (shift[i] < -31 || shift[i] > 30) {
            return MNN_ARG_ERROR;
        }
    }
    for (int32_t i = 0; i < size; i++) {
        output[i] = mnn_requantize(input[i], multiplier[i], shift[i]);
    }
    return MNN_OK;
}
