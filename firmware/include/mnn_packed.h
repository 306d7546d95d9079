/**
 * @file mnn_packed.h
 * @brief Packed low-bit kernels (MCUQ LiteEngine style): 2/4/8-bit weights and activations,
 *        several products per 32-bit multiply, with a proven drain interval.
 *
 * ## Values
 * Every stored value is unsigned, `b` bits (`b` in {2, 4, 8}):
 *  - activation: `a_u` in [0, 2^b_a - 1], real value `a_u - input_zero_point`;
 *  - weight:     `w_u` in [0, 2^b_w - 1], real value `w_u - 2^(b_w - 1)` (symmetric, per
 *    output channel scale; the offset `2^(b_w-1)` is fixed);
 *  - output:     `o_u` in [0, 2^b_o - 1], real value `o_u - output_zero_point`.
 *
 * ## Dense storage (activations and outputs)
 * A tensor of `b`-bit values is a flat little-endian bit stream: value `i` (flat NHWC index)
 * occupies bits `[b*i, b*i + b)`, i.e. bits `(b*i) % 8 ..` of byte `(b*i) / 8`; 8/b values
 * per byte, no padding between pixels.  Inputs must start on a 4-byte boundary.
 *
 * ## Weight storage (offline, per strategy and bit-width pair)
 * Row `o` (one output channel, `K = kh*kw*C_in` values in im2col order `[kh, kw, C_in]`)
 * starts at byte `o * mnn_packed_row_bytes(K, w_bits, w_bits, in_bits)`: `ceil(K / V)`
 * blocks of `V = 32 / min(b_w, b_a)` values, the last one padded with zero weights.
 * Inside a block the values are permuted so that one AND with a shifted (or rotated) word
 * puts the weights into the multiply lanes in the order the activations need (reversed
 * lane order for the packed strategy, same order for SMLAD).  The permutation is generated
 * by `mcusim.kernels.packed.pack_weights`.  Zero weights make the padded activations
 * irrelevant, so the convolution pads its im2col rows to whole blocks and the fully
 * connected kernel runs its last partial block from a zero-padded copy (no tail loop, no
 * read past the input).
 *
 * ## Packed dot product (`mnn_*_packed_lb`)
 * With lane width `s` and `n` lanes, `A = sum a_i 2^(s i)`, `W = sum w_j 2^(s (n-1-j))`;
 * lane `n-1` of `A*W` is `sum a_i w_i`.  Summing `R` packed products, the value extracted
 * from lane `n-1` is exact iff (i) the lanes below do not carry into it and (ii) it stays
 * below `2^s`.  Lane `k < n-1` holds at most `(k+1) R M` with `M = (2^b_a-1)(2^b_w-1)`, and
 * lane `n-1` at most `n R M`; both sums are monotone in every operand, so all-max operands
 * are the worst case, and since `sum_{k<n-1} (k+1) 2^(s k) < n 2^(s(n-2))` condition (ii)
 * `R n M <= 2^s - 1` implies (i).  Lanes above `n-1` only add multiples of `2^(s n)` and
 * are discarded by the register width (lane `n-1` is the top lane of the 32-bit product,
 * or bits [24, 48) of the 64-bit UMLAL product for w8a8).  Hence the bound
 * `R_max = floor((2^s - 1) / (n M))` multiplies; the kernel drains lane `n-1` into a 32-bit
 * accumulator every `floor(R_max / m_b)` blocks of `m_b` multiplies (every multiply when
 * `R_max < m_b`).  Schemes (`mnn_packed_get_scheme`): s = 8, n = 4 for w2a2, w2a4, w4a2;
 * s = 16, n = 2 for w2a8, w8a2, w4a4, w4a8, w8a4; s = 24, n = 2 with 64-bit UMLAL for w8a8
 * (bytes 0 and 3, then 2 and 1 of a word after a 16-bit rotation, are 24 bits apart).
 * Both strategies compute two output channels per pass where that helps (all pairs but
 * w8a2 for packing), so one activation register serves two weight rows.
 *
 * ## Unpack + SMLAD (`mnn_*_smlad_lb`, the CMix-NN way)
 * Operands are unpacked to 16-bit lanes with one AND each and multiplied by SMLAD (two
 * products per instruction, 32-bit accumulator, no drain); plain C without the DSP extension.
 *
 * ## Result
 * `acc[o] = correction[o] + sum_k a_u w_u - 2^(b_w-1) sum_k a_u`, where the caller
 * precomputes `correction[o] = bias[o] - z_a sum_k w_u[o][k] + K z_a 2^(b_w-1)`;
 * `out = clamp(mnn_requantize(acc, multiplier[o], shift[o]) + output_zero_point,
 * activation.min, activation.max)`, stored densely with `out_bits` bits.
 */
#ifndef MNN_PACKED_H
#define MNN_PACKED_H

#include "mnn_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One fully connected or convolution layer on packed low-bit tensors. */
typedef struct {
    mnn_dims input_dims;       /**< [1, H, W, C_in]; fully connected: [1, 1, 1, K] */
    mnn_dims filter_dims;      /**< [C_out, kh, kw, C_in]; fully connected: [N, 1, 1, K] */
    mnn_dims output_dims;      /**< [1, H_out, W_out, C_out]; fully connected: [1, 1, 1, N] */
    mnn_tile stride;           /**< convolution stride (>= 1); ignored by fully connected */
    mnn_tile padding;          /**< symmetric zero padding (>= 0); ignored by fully connected */
    int32_t w_bits;            /**< weight bits: 2, 4 or 8 */
    int32_t in_bits;           /**< input activation bits: 2, 4 or 8 */
    int32_t out_bits;          /**< output activation bits: 2, 4 or 8 */
    int32_t input_zero_point;  /**< z_a in [0, 2^in_bits - 1] (padding value of convolution) */
    int32_t output_zero_point; /**< added after requantisation */
    mnn_activation activation; /**< clamp, 0 <= min <= max <= 2^out_bits - 1 */
} mnn_packed_layer;

/** A packing scheme (see the file comment); filled by ::mnn_packed_get_scheme. */
typedef struct {
    int32_t lane_bits;      /**< s: lane width in bits */
    int32_t lanes;          /**< n: products per multiply */
    int32_t wide;           /**< 1 when the product is 64-bit (UMLAL), else 0 */
    int32_t max_run;        /**< R_max = floor((2^s - 1) / (n M)) multiplies between drains */
    int32_t block_values;   /**< V = 32 / min(b_w, b_a) values per unrolled block */
    int32_t block_mults;    /**< m_b = V / n multiplies per block */
    int32_t drain_blocks;   /**< blocks between drains (0: drain after every multiply) */
} mnn_packed_scheme;

/**
 * @brief Packing scheme compiled into the kernels for one bit-width pair.
 * @param[in]  w_bits  weight bits (2, 4, 8)
 * @param[in]  in_bits activation bits (2, 4, 8)
 * @param[out] scheme  filled on success
 * @return ::MNN_OK, or ::MNN_ARG_ERROR for an unsupported pair or NULL pointer
 */
mnn_status mnn_packed_get_scheme(int32_t w_bits, int32_t in_bits, mnn_packed_scheme *scheme);

/**
 * @brief Bytes of one row of `k` values of `bits` bits padded to whole blocks of the pair.
 *
 * A weight row (`bits = w_bits`) or an im2col row (`bits = in_bits`) holds
 * `ceil(k / V)` blocks of `V = 32 / min(w_bits, in_bits)` values; the padding is zero.
 * @param[in] k        values in the row (>= 0)
 * @param[in] bits     bits of the row's values (`w_bits` or `in_bits`)
 * @param[in] w_bits   weight bits of the pair (2, 4, 8)
 * @param[in] in_bits  activation bits of the pair (2, 4, 8)
 * @return the row size in bytes (a multiple of 4)
 */
int32_t mnn_packed_row_bytes(int32_t k, int32_t bits, int32_t w_bits, int32_t in_bits);

/**
 * @brief Fully connected layer, operand-packing strategy.
 * @param[in]  ctx         unused (may be NULL): no scratch needed
 * @param[in]  layer       shapes, bit widths, zero points and clamp (filter `[N,1,1,K]`)
 * @param[in]  quant       per-output-channel multiplier and shift, N entries each
 * @param[in]  input       K packed `in_bits` values, 4-byte aligned
 * @param[in]  filter      N weight rows in the MUL layout (see file comment), 4-byte aligned
 * @param[in]  correction  N precomputed int32 terms (bias and zero-point corrections)
 * @param[out] output      N packed `out_bits` values (bits beyond N in the last byte kept)
 * @return ::MNN_OK or ::MNN_ARG_ERROR
 */
mnn_status mnn_fully_connected_packed_lb(const mnn_context *ctx, const mnn_packed_layer *layer,
                                         const mnn_per_channel_quant *quant, const uint8_t *input,
                                         const uint8_t *filter, const int32_t *correction,
                                         uint8_t *output);

/**
 * @brief Fully connected layer, unpack-to-16-bit + SMLAD strategy.
 *
 * Same parameters as ::mnn_fully_connected_packed_lb; `filter` is in the SMLAD layout.
 */
mnn_status mnn_fully_connected_smlad_lb(const mnn_context *ctx, const mnn_packed_layer *layer,
                                        const mnn_per_channel_quant *quant, const uint8_t *input,
                                        const uint8_t *filter, const int32_t *correction,
                                        uint8_t *output);

/**
 * @brief Convolution (im2col, one row at a time), operand-packing strategy.
 * @param[in]  ctx         scratch of at least ::mnn_convolve_packed_lb_get_buffer_size bytes,
 *                         4-byte aligned
 * @param[in]  layer       shapes `[1,H,W,C_in]`, `[C_out,kh,kw,C_in]`, `[1,H_out,W_out,C_out]`,
 *                         stride, padding, bit widths, zero points, clamp
 * @param[in]  quant       C_out multipliers and shifts
 * @param[in]  input       H*W*C_in packed `in_bits` values (NHWC), 4-byte aligned
 * @param[in]  filter      C_out weight rows of K = kh*kw*C_in values (MUL layout), aligned
 * @param[in]  correction  C_out precomputed int32 terms
 * @param[out] output      H_out*W_out*C_out packed `out_bits` values (NHWC)
 * @return ::MNN_OK, ::MNN_ARG_ERROR or ::MNN_NO_SCRATCH
 */
mnn_status mnn_convolve_packed_lb(const mnn_context *ctx, const mnn_packed_layer *layer,
                                  const mnn_per_channel_quant *quant, const uint8_t *input,
                                  const uint8_t *filter, const int32_t *correction,
                                  uint8_t *output);

/** @brief Scratch bytes of ::mnn_convolve_packed_lb: one im2col row in whole blocks. */
int32_t mnn_convolve_packed_lb_get_buffer_size(const mnn_packed_layer *layer);

/**
 * @brief Convolution, unpack-to-16-bit + SMLAD strategy.
 *
 * Same parameters as ::mnn_convolve_packed_lb; `filter` is in the SMLAD layout.
 */
mnn_status mnn_convolve_smlad_lb(const mnn_context *ctx, const mnn_packed_layer *layer,
                                 const mnn_per_channel_quant *quant, const uint8_t *input,
                                 const uint8_t *filter, const int32_t *correction,
                                 uint8_t *output);

/** @brief Scratch bytes of ::mnn_convolve_smlad_lb: one im2col row in whole blocks. */
int32_t mnn_convolve_smlad_lb_get_buffer_size(const mnn_packed_layer *layer);

#ifdef __cplusplus
}
#endif

#endif /* MNN_PACKED_H */
