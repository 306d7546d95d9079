/**
 * @file mnn_trec_conv_s8.c
 * @brief Space-efficient TREC convolution: kernel-reuse hashing, reversed ID table and a
 *        stack of first-seen clusters whose sums are replaced in place by their products.
 */
#include "mnn_trec_internal.h"

mnn_status mnn_trec_conv_s8(const mnn_context *ctx, const mnn_trec_conv_params *conv,
                            const mnn_trec_params *trec, const mnn_per_channel_quant *quant,
                            const int8_t *input, const int8_t *filter, const int32_t *bias,
                            int8_t *output, mnn_trec_stats *stats) {
    mnn_status st = mnn_trec_check_params(conv, trec);
    if (st == MNN_OK) st = mnn_trec_check_buffers(quant, input, filter, output);
    if (st != MNN_OK) return st;
    const int32_t cout = conv->output.c, nh = trec->hash_bits;
    if (nh > cout) return MNN_ARG_ERROR;
    const mnn_trec_layout lay = mnn_trec_layout_space(conv, trec);
    if (ctx == NULL || ctx->buf == NULL || ctx->size < lay.total) return MNN_NO_SCRATCH;

    uint8_t *base = (uint8_t *)ctx->buf;
    int32_t *acc = (int32_t *)(base + lay.acc);
    int16_t *xbuf = (int16_t *)(base + lay.xbuf);
    uint16_t *rowslot = (uint16_t *)(base + lay.rowtag);
    int16_t *cen = (int16_t *)(base + lay.centroid);
    uint16_t *table = (uint16_t *)(base + lay.table);
    uint16_t *slot_id = (uint16_t *)(base + lay.slot_id);
    int32_t *count = (int32_t *)(base + lay.count);
    int32_t *stack = (int32_t *)(base + lay.stack);

    const int32_t k = mnn_trec_row_len(conv), sub = trec->sub_len, lp = lay.lp;
    const int32_t cap = trec->max_clusters, sw = lay.slot_words, rest = cout - nh;
    const int32_t positions = conv->output.h * conv->output.w;
    mnn_trec_stats acc_stats = {0, 0, 0, 0};

    for (int32_t i = 0; i < (1 << nh); ++i) table[i] = MNN_TREC_NONE;

    for (int32_t pos0 = 0; pos0 < positions; pos0 += trec->tile_rows) {
        const int32_t rows = positions - pos0 < trec->tile_rows ? positions - pos0 : trec->tile_rows;
        memset(acc, 0, (size_t)rows * (size_t)cout * 4u);
        for (int32_t k0 = 0; k0 < k; k0 += sub) {
            const int32_t len = k - k0 < sub ? k - k0 : sub;
            mnn_trec_gather_s16(conv, input, pos0, rows, k0, len, xbuf, lp);

            /* step 1: hash (kernel reuse: projections = exact partial sums of channels
               0..H-1; rowslot temporarily holds the IDs), look each ID up in the reversed
               table, push new clusters */
            int32_t nslots = 0, nover = 0;
            mnn_trec_hash_rows(xbuf, lp, rows, filter + k0, k, nh, len, acc, cout, rowslot);
            for (int32_t r = 0; r < rows; ++r) {
                const int16_t *x = xbuf + r * lp;
                int32_t *a = acc + r * cout;
                const uint32_t id = rowslot[r];
                uint32_t slot = table[id];
                if (slot == MNN_TREC_NONE) {
                    if (nslots == cap) {
                        /* stack full: this row is computed exactly */
                        mnn_trec_dot_rows(x, filter + nh * k + k0, k, rest, len, a + nh, 1);
                        rowslot[r] = MNN_TREC_NONE;
                        ++nover;
                        continue;
                    }
                    slot = (uint32_t)nslots++;
                    table[id] = (uint16_t)slot;
                    slot_id[slot] = (uint16_t)id;
                    count[slot] = 0;
                    memset(stack + slot * sw, 0, (size_t)len * 4u);
                }
                rowslot[r] = (uint16_t)slot;
                ++count[slot];
                mnn_trec_acc_s16(stack + slot * sw, x, len);
            }

            /* step 2: replace each slot's sums by (centroid x weights of channels H..),
               and empty the table entries that were used */
            for (int32_t s = 0; s < nslots; ++s) {
                int32_t *slotp = stack + s * sw;
                mnn_trec_centroid(slotp, count[s], len, cen);
                mnn_trec_dot_rows(cen, filter + nh * k + k0, k, rest, len, slotp, 0);
                table[slot_id[s]] = MNN_TREC_NONE;
            }

            /* every clustered row adds its cluster's product */
            for (int32_t r = 0; r < rows; ++r) {
                const uint32_t s = rowslot[r];
                if (s == MNN_TREC_NONE) continue;
                mnn_trec_add_s32(acc + r * cout + nh, stack + s * sw, rest);
            }
            acc_stats.vectors += rows;
            acc_stats.clusters += nslots;
            acc_stats.overflow += nover;
            if (nslots > acc_stats.peak_clusters) acc_stats.peak_clusters = nslots;
        }
        mnn_trec_requant_tile_s8(conv, quant, bias, acc, pos0, rows, output);
    }
    if (stats != NULL) *stats = acc_stats;
    return MNN_OK;
}
