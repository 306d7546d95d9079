/**
 * @file mnn_trec_conv_orig_s8.c
 * @brief Original-layout TREC convolution: a stored hash matrix and fixed arrays for all
 *        2^H clusters (the baseline the space-efficient layout is measured against).
 */
#include "mnn_trec_internal.h"

mnn_status mnn_trec_conv_orig_s8(const mnn_context *ctx, const mnn_trec_conv_params *conv,
                                 const mnn_trec_params *trec, const mnn_per_channel_quant *quant,
                                 const int8_t *input, const int8_t *filter, const int32_t *bias,
                                 const int8_t *hash, int8_t *output, mnn_trec_stats *stats) {
    mnn_status st = mnn_trec_check_params(conv, trec);
    if (st == MNN_OK) st = mnn_trec_check_buffers(quant, input, filter, output);
    if (st != MNN_OK) return st;
    if (hash == NULL) return MNN_ARG_ERROR;
    const mnn_trec_layout lay = mnn_trec_layout_orig(conv, trec);
    if (ctx == NULL || ctx->buf == NULL || ctx->size < lay.total) return MNN_NO_SCRATCH;

    uint8_t *base = (uint8_t *)ctx->buf;
    int32_t *acc = (int32_t *)(base + lay.acc);
    int16_t *xbuf = (int16_t *)(base + lay.xbuf);
    uint16_t *rowid = (uint16_t *)(base + lay.rowtag);
    int16_t *cen = (int16_t *)(base + lay.centroid);
    int32_t *prod = (int32_t *)(base + lay.prod);
    int32_t *count = (int32_t *)(base + lay.count);
    int32_t *sums = (int32_t *)(base + lay.sums);

    const int32_t k = mnn_trec_row_len(conv), sub = trec->sub_len, lp = lay.lp;
    const int32_t cout = conv->output.c, nh = trec->hash_bits, nid = 1 << nh;
    const int32_t positions = conv->output.h * conv->output.w;
    mnn_trec_stats acc_stats = {0, 0, 0, 0};

    for (int32_t pos0 = 0; pos0 < positions; pos0 += trec->tile_rows) {
        const int32_t rows = positions - pos0 < trec->tile_rows ? positions - pos0 : trec->tile_rows;
        memset(acc, 0, (size_t)rows * (size_t)cout * 4u);
        for (int32_t k0 = 0; k0 < k; k0 += sub) {
            const int32_t len = k - k0 < sub ? k - k0 : sub;
            mnn_trec_gather_s16(conv, input, pos0, rows, k0, len, xbuf, lp);
            memset(count, 0, (size_t)nid * 4u);
            memset(sums, 0, (size_t)nid * (size_t)sub * 4u);

            /* hash with the stored matrix, accumulate into the fixed cluster arrays */
            mnn_trec_hash_rows(xbuf, lp, rows, hash + k0, k, nh, len, NULL, cout, rowid);
            for (int32_t r = 0; r < rows; ++r) {
                const int16_t *x = xbuf + r * lp;
                const uint32_t id = rowid[r];
                ++count[id];
                mnn_trec_acc_s16(sums + id * sub, x, len);
            }

            /* centroid x all C_out weight columns, for every occupied ID */
            int32_t nclusters = 0;
            for (int32_t id = 0; id < nid; ++id) {
                if (count[id] == 0) continue;
                ++nclusters;
                mnn_trec_centroid(sums + id * sub, count[id], len, cen);
                mnn_trec_dot_rows(cen, filter + k0, k, cout, len, prod + id * cout, 0);
            }

            for (int32_t r = 0; r < rows; ++r) {
                mnn_trec_add_s32(acc + r * cout, prod + rowid[r] * cout, cout);
            }
            acc_stats.vectors += rows;
            acc_stats.clusters += nclusters;
            if (nclusters > acc_stats.peak_clusters) acc_stats.peak_clusters = nclusters;
        }
        mnn_trec_requant_tile_s8(conv, quant, bias, acc, pos0, rows, output);
    }
    if (stats != NULL) *stats = acc_stats;
    return MNN_OK;
}
