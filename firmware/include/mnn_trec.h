/**
 * @file mnn_trec.h
 * @brief TREC convolution (transient redundancy elimination), int8, in two memory layouts.
 *
 * A TREC convolution is an int8 convolution (TFLite semantics, as ::mnn_trec_conv_params
 * describes) in which most multiply-accumulates are replaced by computation reuse:
 *
 *  1. The output positions are processed in tiles of `tile_rows` consecutive positions
 *     (raster order).  The im2col row of a position (length K = C_in * kh * kw, order
 *     `[ky][kx][c]`, input offset added, padding = 0) is cut into blocks of `sub_len` (L)
 *     values; the last block is shorter when L does not divide K.
 *  2. For each block j and each row r of the tile, H = `hash_bits` projections of the
 *     sub-vector are taken; bit h of the cluster ID is 1 when projection h is > 0.
 *  3. Rows of the tile whose block-j sub-vectors have the same ID form a cluster.  The
 *     centroid of a cluster is the element-wise mean of its members, rounded half away from
 *     zero: `c = sign(s) * ((|s| + n / 2) / n)` (C integer division), s = sum, n = count.
 *  4. Each centroid is multiplied by the block's weights (L x C_out) and the product is added
 *     to the int32 accumulator of every row of its cluster.
 *  5. After the last block the accumulators (plus bias) are requantised per channel with
 *     `mnn_requantize`, offset by `output_offset` and clamped to the activation range.
 *
 * Space-efficient layout (::mnn_trec_conv_s8):
 *  - kernel reuse: the H projection vectors of block j are the first H output channels of
 *    the filter restricted to block j, so no hash matrix is stored, and the projections
 *    are the exact block-j partial sums of output channels 0..H-1 (only channels
 *    H..C_out-1 are taken from centroids; channels 0..H-1 are exact);
 *  - a reversed ID table (2^H uint16 entries: ID -> stack slot, or empty) and a stack of at
 *    most `max_clusters` slots in first-seen order; a slot first holds the int32 sums of its
 *    members and, after the clustering pass, is overwritten in place by the int32 product of
 *    its centroid with the weights of channels H..C_out-1 (two-step stack replacement);
 *  - stack full: a row whose ID is new when all `max_clusters` slots are taken is computed
 *    exactly (all channels, no reuse) and counted in ::mnn_trec_stats::overflow.
 *    `max_clusters = 0` therefore gives the exact convolution.
 *
 * Original layout (::mnn_trec_conv_orig_s8): a separately stored int8 hash matrix
 * `[H][K]`, and fixed arrays for all 2^H clusters (counts, sums, products of all C_out
 * channels), zeroed for every block; no stack, no overflow, channels 0..H-1 also come from
 * centroids.
 *
 * Both kernels need caller-owned scratch of `..._get_buffer_size()` bytes (4-byte aligned).
 */
#ifndef MNN_TREC_H
#define MNN_TREC_H

#include "mnn_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest supported number of hash bits H (the reversed ID table has 2^H entries). */
#define MNN_TREC_MAX_HASH_BITS 15

/** Convolution geometry and quantisation offsets (all fields int32, 20 words). */
typedef struct {
    mnn_dims input;        /**< [1, H_in, W_in, C_in]; n must be 1 */
    mnn_dims filter;       /**< [C_out, kh, kw, C_in] (n = C_out, c = C_in) */
    mnn_dims output;       /**< [1, H_out, W_out, C_out], consistent with stride/padding */
    mnn_tile stride;       /**< >= 1 */
    mnn_tile padding;      /**< >= 0, zero padding (in the offset-added domain) */
    int32_t input_offset;  /**< added to every input value, -(input zero point), [-127, 128] */
    int32_t output_offset; /**< output zero point, [-128, 127] */
    mnn_activation activation; /**< clamp of the output, -128 <= min <= max <= 127 */
} mnn_trec_conv_params;

/** TREC parameters (4 words). */
typedef struct {
    int32_t sub_len;      /**< L, sub-vector length, 1 <= L <= K */
    int32_t hash_bits;    /**< H, 1..MNN_TREC_MAX_HASH_BITS; kernel reuse needs H <= C_out */
    int32_t max_clusters; /**< stack capacity per block (space-efficient layout only), 0..65535;
                               ignored by the original layout (2^H fixed clusters) */
    int32_t tile_rows;    /**< output positions clustered together, >= 1 */
} mnn_trec_params;

/** Cluster statistics written by the kernels when the stats pointer is not NULL (4 words). */
typedef struct {
    int32_t vectors;       /**< sub-vectors hashed: H_out * W_out * ceil(K / L) */
    int32_t clusters;      /**< clusters formed, summed over tiles and blocks */
    int32_t overflow;      /**< sub-vectors computed exactly because the stack was full */
    int32_t peak_clusters; /**< most clusters formed in one block (stack slots or distinct IDs) */
} mnn_trec_stats;

/**
 * @brief Space-efficient TREC convolution (kernel reuse, reversed ID table, slot stack).
 *
 * @param[in]  ctx    scratch, `buf` 4-byte aligned, `size` >= mnn_trec_conv_s8_get_buffer_size()
 * @param[in]  conv   geometry and offsets
 * @param[in]  trec   L, H, stack capacity, tile rows
 * @param[in]  quant  per-channel requantisation, C_out entries each
 * @param[in]  input  int8 `[1, H_in, W_in, C_in]`
 * @param[in]  filter int8 `[C_out, kh, kw, C_in]` (per-channel symmetric)
 * @param[in]  bias   int32 `[C_out]`, may be NULL (no bias)
 * @param[out] output int8 `[1, H_out, W_out, C_out]`
 * @param[out] stats  cluster statistics, may be NULL
 * @return MNN_OK; MNN_ARG_ERROR for a NULL tensor or inconsistent/out-of-range parameters
 *         (including H > C_out); MNN_NO_SCRATCH when the scratch is missing or too small.
 */
mnn_status mnn_trec_conv_s8(const mnn_context *ctx, const mnn_trec_conv_params *conv,
                            const mnn_trec_params *trec, const mnn_per_channel_quant *quant,
                            const int8_t *input, const int8_t *filter, const int32_t *bias,
                            int8_t *output, mnn_trec_stats *stats);

/**
 * @brief Scratch bytes of ::mnn_trec_conv_s8: tile accumulators (tile_rows x C_out int32),
 *        gathered sub-vectors (tile_rows x L int16), row slots (tile_rows uint16), centroid
 *        (L int16), reversed ID table (2^H uint16), slot IDs and counts (max_clusters
 *        uint16 + int32), and the stack (max_clusters x max(L, C_out - H) int32).
 * @return the size in bytes, or 0 for invalid parameters.
 */
int32_t mnn_trec_conv_s8_get_buffer_size(const mnn_trec_conv_params *conv,
                                         const mnn_trec_params *trec);

/**
 * @brief Original-layout TREC convolution (stored hash matrix, fixed 2^H cluster arrays).
 *
 * Parameters as ::mnn_trec_conv_s8, plus:
 * @param[in] hash int8 `[H][K]` hash matrix (row h = projection vector h over the whole
 *                 im2col row; block j uses columns jL..jL+L-1)
 * `trec->max_clusters` is ignored; `stats->overflow` is always 0.
 */
mnn_status mnn_trec_conv_orig_s8(const mnn_context *ctx, const mnn_trec_conv_params *conv,
                                 const mnn_trec_params *trec, const mnn_per_channel_quant *quant,
                                 const int8_t *input, const int8_t *filter, const int32_t *bias,
                                 const int8_t *hash, int8_t *output, mnn_trec_stats *stats);

/**
 * @brief Scratch bytes of ::mnn_trec_conv_orig_s8: tile accumulators, gathered sub-vectors,
 *        row IDs (uint16), centroid, and 2^H x (C_out products + count + L sums) int32.
 * @return the size in bytes, or 0 for invalid parameters.
 */
int32_t mnn_trec_conv_orig_s8_get_buffer_size(const mnn_trec_conv_params *conv,
                                              const mnn_trec_params *trec);

#ifdef __cplusplus
}
#endif

#endif /* MNN_TREC_H */
