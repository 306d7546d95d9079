/**
 * @file mnn_s8.h
 * @brief int8 neural-network kernels in the CMSIS-NN manner (family `s8`): the public API.
 *
 * Semantics are TFLite int8:
 *  - activations are asymmetric int8: `real = scale * (q - zero_point)`; kernels take the
 *    *offsets* `input_offset = -input_zero_point` (range [-127, 128]) and
 *    `output_offset = output_zero_point` (range [-128, 127]);
 *  - weights are symmetric per output channel (zero point 0), bias is int32 per output channel;
 *  - an accumulator `acc = bias[c] + sum (x + input_offset) * w` is brought back to int8 by
 *    `mnn_requantize(acc, multiplier[c], shift[c]) + output_offset` (see mnn_requant.h) and
 *    clamped to `[activation.min, activation.max]` (ReLU / ReLU6 are such clamps).
 *
 * Layouts: tensors NHWC (`[N, H, W, C]`); convolution filters `[C_OUT, KH, KW, C_IN]`;
 * depthwise filters `[1, KH, KW, C]`; fully-connected weights `[C_OUT, C_IN]`.
 * Padding (CMSIS-NN convention): `padding` is the padding *before* (top, left), in
 * [0, k - 1]; the padding after (bottom, right) is implied by the output size,
 * `pad_after = (out - 1) * stride + k - in - pad_before`, which must lie in (-stride, k - 1]
 * (a negative value leaves the last input rows unused, as VALID padding does when the
 * stride does not divide). So `out = (in + pad_before + pad_after - k) / stride + 1`, and
 * TFLite's asymmetric SAME padding (`pad_after = pad_before + 1`) is expressed by the
 * output size alone. Padded pixels hold the input zero point (convolutions) or are ignored
 * (pooling). Dilation must be 1.
 *
 * Every kernel returns ::MNN_OK, ::MNN_ARG_ERROR (NULL buffer, mismatched or out-of-range
 * dimension or parameter) or ::MNN_NO_SCRATCH (scratch smaller than its `..._get_buffer_size()`).
 * Scratch sizes depend on the build (`MNN_DSP`, see mnn_types.h); the Python mirrors live in
 * `mcusim.kernels.s8`.
 */
#ifndef MNN_S8_H
#define MNN_S8_H

#include "mnn_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Convolution parameters (regular and depthwise). Ten int32. */
typedef struct {
    int32_t input_offset;      /**< -input zero point, [-127, 128] */
    int32_t output_offset;     /**< output zero point, [-128, 127] */
    mnn_tile stride;           /**< >= 1 */
    mnn_tile padding;          /**< before (left, top): >= 0 and < kernel size; after: implied */
    mnn_tile dilation;         /**< must be {1, 1} */
    mnn_activation activation; /**< clamp, -128 <= min <= max <= 127 */
} mnn_conv_params;

/** Fully-connected parameters. Four int32. */
typedef struct {
    int32_t input_offset;      /**< -input zero point, [-127, 128] */
    int32_t output_offset;     /**< output zero point, [-128, 127] */
    mnn_activation activation; /**< clamp, -128 <= min <= max <= 127 */
} mnn_fc_params;

/** Pooling parameters (input and output share scale and zero point). Eight int32. */
typedef struct {
    mnn_tile stride;           /**< >= 1 */
    mnn_tile padding;          /**< before (left, top): >= 0 and < filter size; after: implied
                                    by the output size; padded pixels are ignored */
    mnn_tile filter;           /**< window size, >= 1 */
    mnn_activation activation; /**< clamp, -128 <= min <= max <= 127 */
} mnn_pool_params;

/**
 * Element-wise add parameters (TFLite `ADD` int8). Twelve int32.
 * out = clamp(requant(requant((x1 + off1) << left_shift, m1, s1)
 *                     + requant((x2 + off2) << left_shift, m2, s2), m_out, s_out) + out_off)
 * All shifts must be <= 0 (right shifts), `left_shift` in [0, 20].
 */
typedef struct {
    int32_t input1_offset;     /**< -zero point of input 1, [-127, 128] */
    int32_t input1_multiplier; /**< Q31 */
    int32_t input1_shift;      /**< [-31, 0] */
    int32_t input2_offset;     /**< -zero point of input 2, [-127, 128] */
    int32_t input2_multiplier; /**< Q31 */
    int32_t input2_shift;      /**< [-31, 0] */
    int32_t left_shift;        /**< [0, 20], 20 in TFLite */
    int32_t output_offset;     /**< output zero point, [-128, 127] */
    int32_t output_multiplier; /**< Q31 */
    int32_t output_shift;      /**< [-31, 0] */
    mnn_activation activation; /**< clamp, -128 <= min <= max <= 127 */
} mnn_add_params;

/**
 * Softmax parameters (TFLite int8 SOFTMAX, output scale 1/256 and zero point -128). Three
 * int32, computed as TFLite Micro's `CalculateSoftmaxParams` (Python:
 * `mcusim.kernels.s8_params.SoftmaxParams.from_scale(input_scale, beta)`).
 */
typedef struct {
    int32_t input_multiplier;  /**< Q31 multiplier of beta * input_scale * 2^26, >= 0 */
    int32_t input_left_shift;  /**< its left shift, [0, 31] */
    int32_t diff_min;          /**< <= 0: differences to the row maximum below it give -128 */
} mnn_softmax_params;

/* ------------------------------------------------------------------ convolution */

/**
 * @brief Convolution by im2col and a 2x2 (channels x pixels) register-tiled matrix kernel.
 *
 * Any kernel size, stride and padding. With `MNN_DSP` two im2col columns are built in 16 bit
 * (offset added, pairs reordered for SXTB16) and multiplied with SMLAD; without, the columns
 * stay 8 bit and a plain-C 2x2 kernel is used.
 *
 * @param[in]     ctx          scratch, at least mnn_convolve_s8_get_buffer_size() bytes,
 *                             4-byte aligned
 * @param[in]     params       offsets, stride, padding, dilation (1), activation
 * @param[in]     quant        per-output-channel multipliers and shifts, `[C_OUT]` each
 * @param[in]     input_dims   `{N, H, W, C_IN}`, all >= 1
 * @param[in]     input        int8 `[N, H, W, C_IN]`
 * @param[in]     filter_dims  `{C_OUT, KH, KW, C_IN}`
 * @param[in]     filter       int8 `[C_OUT, KH, KW, C_IN]`
 * @param[in]     bias         int32 `[C_OUT]`
 * @param[in]     output_dims  `{N, OH, OW, C_OUT}`
 * @param[out]    output       int8 `[N, OH, OW, C_OUT]`
 * @return ::MNN_OK, ::MNN_ARG_ERROR, or ::MNN_NO_SCRATCH
 */
mnn_status mnn_convolve_s8(const mnn_context *ctx, const mnn_conv_params *params,
                           const mnn_per_channel_quant *quant, const mnn_dims *input_dims,
                           const int8_t *input, const mnn_dims *filter_dims, const int8_t *filter,
                           const int32_t *bias, const mnn_dims *output_dims, int8_t *output);

/**
 * @brief Scratch bytes of mnn_convolve_s8(): two im2col columns of `C_IN*KH*KW` elements
 *        (2 bytes each with `MNN_DSP`, 1 byte without), rounded up to a multiple of 4.
 * @param[in] input_dims   as for mnn_convolve_s8()
 * @param[in] filter_dims  as for mnn_convolve_s8()
 * @return bytes (>= 0)
 */
int32_t mnn_convolve_s8_get_buffer_size(const mnn_dims *input_dims, const mnn_dims *filter_dims);

/**
 * @brief 1x1 convolution fast path: no im2col, no scratch; rows of the input are multiplied
 *        directly (2 pixels x 2 channels, SMLAD on SXTAB16/SXTB16 pairs with `MNN_DSP`).
 *
 * Same parameters as mnn_convolve_s8(); requires `KH = KW = 1` and zero padding (any
 * stride, per axis; unused trailing rows/columns allowed). `ctx` is not used and may be NULL.
 * @return ::MNN_OK or ::MNN_ARG_ERROR
 */
mnn_status mnn_convolve_1x1_s8(const mnn_context *ctx, const mnn_conv_params *params,
                               const mnn_per_channel_quant *quant, const mnn_dims *input_dims,
                               const int8_t *input, const mnn_dims *filter_dims,
                               const int8_t *filter, const int32_t *bias,
                               const mnn_dims *output_dims, int8_t *output);

/**
 * @brief Convolution wrapper: picks mnn_convolve_1x1_s8() for 1x1 filters without padding,
 *        mnn_convolve_s8() otherwise. Parameters and status as mnn_convolve_s8().
 */
mnn_status mnn_convolve_wrapper_s8(const mnn_context *ctx, const mnn_conv_params *params,
                                   const mnn_per_channel_quant *quant, const mnn_dims *input_dims,
                                   const int8_t *input, const mnn_dims *filter_dims,
                                   const int8_t *filter, const int32_t *bias,
                                   const mnn_dims *output_dims, int8_t *output);

/**
 * @brief Scratch bytes of mnn_convolve_wrapper_s8() for these shapes (0 for the 1x1 path).
 * @param[in] params       as for the wrapper (padding decides the path)
 * @param[in] input_dims   as for the wrapper
 * @param[in] filter_dims  as for the wrapper
 * @return bytes (>= 0)
 */
int32_t mnn_convolve_wrapper_s8_get_buffer_size(const mnn_conv_params *params,
                                                const mnn_dims *input_dims,
                                                const mnn_dims *filter_dims);

/* -------------------------------------------------------------------- depthwise */

/**
 * @brief Depthwise convolution, channel multiplier 1, any kernel size, stride and padding.
 *
 * @param[in]  ctx          not used (may be NULL); no scratch
 * @param[in]  params       as for mnn_convolve_s8()
 * @param[in]  quant        per-channel multipliers and shifts, `[C]` each
 * @param[in]  input_dims   `{N, H, W, C}`
 * @param[in]  input        int8 `[N, H, W, C]`
 * @param[in]  filter_dims  `{1, KH, KW, C}`
 * @param[in]  filter       int8 `[1, KH, KW, C]`
 * @param[in]  bias         int32 `[C]`
 * @param[in]  output_dims  `{N, OH, OW, C}`
 * @param[out] output       int8 `[N, OH, OW, C]`
 * @return ::MNN_OK or ::MNN_ARG_ERROR
 */
mnn_status mnn_depthwise_conv_s8(const mnn_context *ctx, const mnn_conv_params *params,
                                 const mnn_per_channel_quant *quant, const mnn_dims *input_dims,
                                 const int8_t *input, const mnn_dims *filter_dims,
                                 const int8_t *filter, const int32_t *bias,
                                 const mnn_dims *output_dims, int8_t *output);

/**
 * @brief Depthwise 3x3 specialisation (window loops unrolled for interior pixels, four
 *        channels per step with `MNN_DSP`). As mnn_depthwise_conv_s8(), requires
 *        `KH = KW = 3` and padding <= 1.
 * @return ::MNN_OK or ::MNN_ARG_ERROR
 */
mnn_status mnn_depthwise_conv_3x3_s8(const mnn_context *ctx, const mnn_conv_params *params,
                                     const mnn_per_channel_quant *quant,
                                     const mnn_dims *input_dims, const int8_t *input,
                                     const mnn_dims *filter_dims, const int8_t *filter,
                                     const int32_t *bias, const mnn_dims *output_dims,
                                     int8_t *output);

/**
 * @brief Depthwise wrapper: mnn_depthwise_conv_3x3_s8() for 3x3 filters with padding <= 1,
 *        mnn_depthwise_conv_s8() otherwise. Parameters and status as mnn_depthwise_conv_s8().
 */
mnn_status mnn_depthwise_conv_wrapper_s8(const mnn_context *ctx, const mnn_conv_params *params,
                                         const mnn_per_channel_quant *quant,
                                         const mnn_dims *input_dims, const int8_t *input,
                                         const mnn_dims *filter_dims, const int8_t *filter,
                                         const int32_t *bias, const mnn_dims *output_dims,
                                         int8_t *output);

/* -------------------------------------------------------------- fully connected */

/**
 * @brief Fully connected: `out[n, o] = requant(bias[o] + sum_i (x[n, i] + in_off) w[o, i])`.
 *
 * @param[in]  ctx          not used (may be NULL); no scratch
 * @param[in]  params       offsets and activation
 * @param[in]  quant        per-output multipliers and shifts, `[C_OUT]` each (repeat one
 *                          value for per-tensor quantisation)
 * @param[in]  input_dims   `{N, H, W, C}`; the input vector length is `H*W*C`
 * @param[in]  input        int8 `[N, H*W*C]`
 * @param[in]  filter_dims  `{C_OUT, 1, 1, H*W*C}`
 * @param[in]  filter       int8 `[C_OUT, H*W*C]`
 * @param[in]  bias         int32 `[C_OUT]`
 * @param[in]  output_dims  `{N, 1, 1, C_OUT}`
 * @param[out] output       int8 `[N, C_OUT]`
 * @return ::MNN_OK or ::MNN_ARG_ERROR
 */
mnn_status mnn_fully_connected_s8(const mnn_context *ctx, const mnn_fc_params *params,
                                  const mnn_per_channel_quant *quant, const mnn_dims *input_dims,
                                  const int8_t *input, const mnn_dims *filter_dims,
                                  const int8_t *filter, const int32_t *bias,
                                  const mnn_dims *output_dims, int8_t *output);

/* ---------------------------------------------------------------------- pooling */

/**
 * @brief Max pooling (padded pixels are ignored), then the activation clamp.
 * @param[in]  params       stride, padding, window, activation
 * @param[in]  input_dims   `{N, H, W, C}`
 * @param[in]  input        int8 `[N, H, W, C]`
 * @param[in]  output_dims  `{N, OH, OW, C}`, `OH = (H + pad_top + pad_bottom - FH) / stride + 1`
 * @param[out] output       int8 `[N, OH, OW, C]`
 * @return ::MNN_OK or ::MNN_ARG_ERROR
 */
mnn_status mnn_max_pool_s8(const mnn_pool_params *params, const mnn_dims *input_dims,
                           const int8_t *input, const mnn_dims *output_dims, int8_t *output);

/**
 * @brief Average pooling: the sum over the valid (non-padded) window divided by their count,
 *        rounded half away from zero, then clamped. With `MNN_DSP` the sums of all channels
 *        are kept in scratch; without, no scratch is used.
 * @param[in]  ctx          scratch of mnn_avg_pool_s8_get_buffer_size() bytes, 4-byte aligned
 * @param[in]  params       stride, padding, window, activation
 * @param[in]  input_dims   `{N, H, W, C}`
 * @param[in]  input        int8 `[N, H, W, C]`
 * @param[in]  output_dims  `{N, OH, OW, C}`
 * @param[out] output       int8 `[N, OH, OW, C]`
 * @return ::MNN_OK, ::MNN_ARG_ERROR or ::MNN_NO_SCRATCH
 */
mnn_status mnn_avg_pool_s8(const mnn_context *ctx, const mnn_pool_params *params,
                           const mnn_dims *input_dims, const int8_t *input,
                           const mnn_dims *output_dims, int8_t *output);

/**
 * @brief Scratch bytes of mnn_avg_pool_s8(): `4 * C` with `MNN_DSP`, 0 without.
 * @param[in] output_dims  as for mnn_avg_pool_s8()
 * @return bytes (>= 0)
 */
int32_t mnn_avg_pool_s8_get_buffer_size(const mnn_dims *output_dims);

/* -------------------------------------------------------------- element-wise add */

/**
 * @brief Element-wise add with requantisation (TFLite `ADD` int8), see ::mnn_add_params.
 * @param[in]  params   offsets, multipliers, shifts, activation
 * @param[in]  input1   int8 `[size]`
 * @param[in]  input2   int8 `[size]`
 * @param[out] output   int8 `[size]` (may alias an input)
 * @param[in]  size     number of elements, >= 0
 * @return ::MNN_OK or ::MNN_ARG_ERROR
 */
mnn_status mnn_elementwise_add_s8(const mnn_add_params *params, const int8_t *input1,
                                  const int8_t *input2, int8_t *output, int32_t size);

/* ---------------------------------------------------------------------- softmax */

/**
 * @brief int8 softmax along rows, bit-exact with TensorFlow Lite Micro's reference kernel
 *        (`reference_ops::Softmax`, gemmlowp fixed point: Q5.26 differences, Q12.19 sum).
 *
 * Per row: `d = x - max(row)`; entries with `d >= diff_min` get
 * `exp(d * input_multiplier * 2^input_left_shift)`, divided by the sum of those, in units
 * of 1/256 minus 128; the other entries give -128. No scratch.
 * @param[in]  params     multiplier, left shift, diff_min (see ::mnn_softmax_params)
 * @param[in]  input      int8 `[num_rows, row_size]`
 * @param[in]  num_rows   number of rows, >= 0
 * @param[in]  row_size   elements per row, [1, 4095] (the sum of exponentials stays in int32)
 * @param[out] output     int8 `[num_rows, row_size]` (may alias input)
 * @return ::MNN_OK or ::MNN_ARG_ERROR (NULL buffer, size or parameter out of range)
 */
mnn_status mnn_softmax_s8(const mnn_softmax_params *params, const int8_t *input,
                          int32_t num_rows, int32_t row_size, int8_t *output);

/* ---------------------------------------------------------------- requantisation */

/**
 * @brief Requantise int32 values element by element: `output[i] =
 *        mnn_requantize(input[i], multiplier[i], shift[i])` (not clamped). Exposes the
 *        family's fixed-point arithmetic for tests and post-processing.
 * @param[in]  input       int32 `[size]`
 * @param[in]  multiplier  Q31 `[size]`
 * @param[in]  shift       `[size]`, each in [-31, 30]
 * @param[out] output      int32 `[size]`
 * @param[in]  size        >= 0
 * @return ::MNN_OK or ::MNN_ARG_ERROR (NULL buffer, negative size, shift out of range)
 */
mnn_status mnn_requantize_s32(const int32_t *input, const int32_t *multiplier,
                              const int32_t *shift, int32_t *output, int32_t size);

#ifdef __cplusplus
}
#endif

#endif /* MNN_S8_H */
