/**
 * @file mnn_trec_requant_tile_s8.c
 * @brief Internal: bias, per-channel requantisation, output offset and clamp of a tile.
 */
#include "mnn_requant.h"
#include "mnn_trec_internal.h"

void mnn_trec_requant_tile_s8(const mnn_trec_conv_params *conv,
                              const mnn_per_channel_quant *quant, const int32_t *bias,
                              const int32_t *acc, int32_t pos0, int32_t rows, int8_t *output) {
    const int32_t cout = conv->output.c;
    const int32_t lo = conv->activation.min, hi = conv->activation.max;
    const int32_t out_off = conv->output_offset;
    int8_t *out = output + pos0 * cout;
    /* channel-outer: the channel's bias, multiplier and shift are read once per tile */
    for (int32_t c = 0; c < cout; ++c) {
        const int32_t b = bias != NULL ? bias[c] : 0;
        const int32_t mult = quant->multiplier[c], shift = quant->shift[c];
        const int32_t *a = acc + c;
        int8_t *o = out + c;
        for (int32_t r = 0; r < rows; ++r) {
            int32_t v = mnn_requantize(a[r * cout] + b, mult, shift) + out_off;
            v = v < lo ? lo : (v > hi ? hi : v);
            o[r * cout] = (int8_t)v;
        }
    }
}
