/**
 * @file mnn_elementwise_add_s8.c
 * @brief int8 element-wise add with requantisation (TFLite ADD).
 *
 * With MNN_DSP four elements per step: SXTAB16 adds the input offsets to two sign-extended
 * pairs of each input word at once.
 */
#include "mnn_s8_internal.h"

static int8_t add_one(int32_t a, int32_t b, const mnn_add_params *p)
{
    const int32_t sa = mnn_requantize(a * (1 << p->left_shift), p->input1_multiplier,
                                      p->input1_shift);
    const int32_t sb = mnn_requantize(b * (1 << p->left_shift), p->input2_multiplier,
                                      p->input2_shift);
    int32_t v = mnn_requantize(sa + sb, p->output_multiplier, p->output_shift) + p->output_offset;
    v = v < p->activation.min ? p->activation.min : v;
    v = v > p->activation.max ? p->activation.max : v;
    return (int8_t)v;
}

mnn_status mnn_elementwise_add_s8(const mnn_add_params *params, const int8_t *input1,
                                  const int8_t *input2, int8_t *output, int32_t size)
{
    if (params == NULL || input1 == NULL || input2 == NULL || output == NULL || size < 0) {
        return MNN_ARG_ERROR;
    }
    const mnn_add_params *p = params;
    if (!mnn_s8_offsets_ok(p->input1_offset, p->output_offset) ||
        !mnn_s8_offsets_ok(p->input2_offset, p->output_offset) ||
        p->left_shift < 0 || p->left_shift > 20 || p->input1_shift > 0 || p->input2_shift > 0 ||
        p->output_shift > 0 || p->input1_shift < -31 || p->input2_shift < -31 ||
        p->output_shift < -31 || !mnn_s8_activation_ok(&p->activation)) {
        return MNN_ARG_ERROR;
    }
    int32_t i = 0;
#if MNN_DSP
    const uint32_t off1 = mnn_pack_offset(p->input1_offset);
    const uint32_t off2 = mnn_pack_offset(p->input2_offset);
    for (; i + 4 <= size; i += 4) {
        const uint32_t a = mnn_read_u32(input1 + i);
        const uint32_t b = mnn_read_u32(input2 + i);
        const uint32_t ae = mnn_sxtab16(off1, a);
        const uint32_t ao = mnn_sxtab16_ror8(off1, a);
        const uint32_t be = mnn_sxtab16(off2, b);
        const uint32_t bo = mnn_sxtab16_ror8(off2, b);
        int8_t r[4];
        r[0] = add_one((int16_t)ae, (int16_t)be, p);
        r[1] = add_one((int16_t)ao, (int16_t)bo, p);
        r[2] = add_one((int32_t)ae >> 16, (int32_t)be >> 16, p);
        r[3] = add_one((int32_t)ao >> 16, (int32_t)bo >> 16, p);
        memcpy(output + i, r, 4);
    }
#endif
    for (; i < size; i++) {
        output[i] = add_one(input1[i] + p->input1_offset, input2[i] + p->input2_offset, p);
    }
    return MNN_OK;
}
