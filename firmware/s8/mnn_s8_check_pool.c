/**
 * @file mnn_s8_check_pool.c
 * @brief Shared argument validation of the s8 pooling kernels (internal).
 */
#include "mnn_s8_internal.h"

mnn_status mnn_s8_check_pool(const mnn_pool_params *params, const mnn_dims *input_dims,
                             const int8_t *input, const mnn_dims *output_dims,
                             const int8_t *output)
{
    if (params == NULL || input_dims == NULL || input == NULL || output_dims == NULL ||
        output == NULL) {
        return MNN_ARG_ERROR;
    }
    const mnn_dims *i = input_dims;
    const mnn_dims *o = output_dims;
    if (i->n < 1 || i->h < 1 || i->w < 1 || i->c < 1 || o->n != i->n || o->c != i->c) {
        return MNN_ARG_ERROR;
    }
    if (!mnn_s8_activation_ok(&params->activation) ||
        !mnn_s8_axis_ok(i->h, o->h, params->filter.h, params->stride.h, params->padding.h) ||
        !mnn_s8_axis_ok(i->w, o->w, params->filter.w, params->stride.w, params->padding.w)) {
        return MNN_ARG_ERROR;
    }
    return MNN_OK;
}
