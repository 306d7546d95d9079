/**
 * @file mnn_s8_internal.h
 * @brief Internal helpers of the `s8` family (not part of the public API).
 *
 * DSP wrappers (SXTB16, SXTAB16 with and without ROR #8, SMLAD, SMLABB/SMLATT, SSUB8/SEL)
 * exist only when `MNN_DSP` is 1; the matrix kernels and the im2col routine shared by the
 * convolutions, fully connected and depthwise kernels are declared here.
 */
#ifndef MNN_S8_INTERNAL_H
#define MNN_S8_INTERNAL_H

#include <string.h>

#include "mnn_requant.h"
#include "mnn_s8.h"

/** im2col column element: 16 bit (offset added, reordered pairs) with DSP, raw int8 without. */
#if MNN_DSP
typedef int16_t mnn_col_t;
#define MNN_S8_COL_ELEM_BYTES 2
#else
typedef int8_t mnn_col_t;
#define MNN_S8_COL_ELEM_BYTES 1
#endif

/** Requantisation arguments shared by the matrix kernels. */
typedef struct {
    const int32_t *bias;       /**< [C_OUT] */
    const int32_t *multiplier; /**< [C_OUT] */
    const int32_t *shift;      /**< [C_OUT] */
    int32_t output_offset;
    int32_t act_min;
    int32_t act_max;
} mnn_s8_out;

/** Requantise, add the output offset and clamp. */
static inline int8_t mnn_s8_finish(int32_t acc, int32_t multiplier, int32_t shift,
                                   int32_t output_offset, int32_t act_min, int32_t act_max)
{
    int32_t v = mnn_requantize(acc, multiplier, shift) + output_offset;
    v = v < act_min ? act_min : v;
    v = v > act_max ? act_max : v;
    return (int8_t)v;
}

/* Kernels copy the fields of an ::mnn_s8_out into locals once: every int8 output store may
 * alias anything, so reading them through the pointer would reload them per output. */
#define MNN_S8_OUT_LOCALS(o)                                                                 \
    const int32_t *const bias = (o)->bias;                                                   \
    const int32_t *const mult = (o)->multiplier;                                             \
    const int32_t *const shift = (o)->shift;                                                 \
    const int32_t out_off = (o)->output_offset;                                              \
    const int32_t act_min = (o)->act_min;                                                    \
    const int32_t act_max = (o)->act_max

/** Unaligned little-endian 32-bit read (one LDR on Cortex-M4/M7). */
static inline uint32_t mnn_read_u32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/** Unaligned 32-bit write. */
static inline void mnn_write_u32(void *p, uint32_t v)
{
    memcpy(p, &v, sizeof v);
}

#if MNN_DSP
/** Bytes 0 and 2 sign-extended to halfwords. */
static inline uint32_t mnn_sxtb16(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(x));
    return r;
}
/** Bytes 1 and 3 sign-extended to halfwords. */
static inline uint32_t mnn_sxtb16_ror8(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
/** Halfwords of a plus bytes 0 and 2 of x sign-extended. */
static inline uint32_t mnn_sxtab16(uint32_t a, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(x));
    return r;
}
/** Halfwords of a plus bytes 1 and 3 of x sign-extended. */
static inline uint32_t mnn_sxtab16_ror8(uint32_t a, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}
/** acc + lo(a)*lo(b) + hi(a)*hi(b). */
static inline int32_t mnn_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
/** acc + lo(a)*lo(b). */
static inline int32_t mnn_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smlabb %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
/** acc + hi(a)*hi(b). */
static inline int32_t mnn_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smlatt %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
/** Byte-wise signed maximum of a and b (SSUB8 sets GE, SEL picks). */
static inline uint32_t mnn_max_s8x4(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(a), "r"(b) : "cc");
    return r;
}
/** Byte-wise signed minimum of a and b. */
static inline uint32_t mnn_min_s8x4(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %2, %1" : "=&r"(r) : "r"(a), "r"(b) : "cc");
    return r;
}
/** An offset in both halfwords. */
static inline uint32_t mnn_pack_offset(int32_t off)
{
    return ((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16);
}
#endif /* MNN_DSP */

/**
 * @brief Validate the shared arguments of the convolution kernels.
 * @param depthwise  1: filter `{1, KH, KW, C}`, output channels = input channels
 * @return ::MNN_OK or ::MNN_ARG_ERROR
 */
mnn_status mnn_s8_check_conv(const mnn_conv_params *params, const mnn_per_channel_quant *quant,
                             const mnn_dims *input_dims, const int8_t *input,
                             const mnn_dims *filter_dims, const int8_t *filter,
                             const int32_t *bias, const mnn_dims *output_dims,
                             const int8_t *output, int32_t depthwise);

/** Validate pooling arguments. @return ::MNN_OK or ::MNN_ARG_ERROR */
mnn_status mnn_s8_check_pool(const mnn_pool_params *params, const mnn_dims *input_dims,
                             const int8_t *input, const mnn_dims *output_dims,
                             const int8_t *output);

/**
 * @brief Write the im2col column of output pixel (oy, ox) to `col` (`C_IN*KH*KW` elements).
 *
 * With DSP: int16 values `x + input_offset` (0 in the padding), each full group of four
 * reordered as (0, 2, 1, 3) to match SXTB16 on the weights; the tail stays in order.
 * Without: raw int8 values, padding filled with the input zero point.
 */
void mnn_s8_im2col(const mnn_conv_params *params, const mnn_dims *input_dims,
                   const int8_t *input, const mnn_dims *filter_dims, int32_t oy, int32_t ox,
                   mnn_col_t *col);

/**
 * @brief 2x2 register-tiled kernel: `num_cols` (1 or 2) im2col columns of length k times
 *        the `[out_c, k]` filter; writes `num_cols * out_c` int8 outputs (pixel-major).
 * @param col_offset  input offset, used only without DSP (the DSP columns include it)
 * @return pointer past the last written output
 */
int8_t *mnn_nn_mat_mult_kernel_s8_s16(const int8_t *filter, const mnn_col_t *cols,
                                      int32_t num_cols, int32_t out_c, int32_t k,
                                      int32_t col_offset, const mnn_s8_out *o, int8_t *out);

/**
 * @brief int8 rows x int8 weights (2 rows x 2 channels per step, no scratch): row `r` starts
 *        at `lhs + r * row_stride` and has k elements; writes `rows * out_c` outputs.
 * @return pointer past the last written output
 */
int8_t *mnn_nn_mat_mult_s8(const int8_t *lhs, int32_t rows, int32_t row_stride,
                           const int8_t *filter, int32_t out_c, int32_t k,
                           int32_t input_offset, const mnn_s8_out *o, int8_t *out);

/**
 * @brief One int8 row times the `[out_c, k]` filter (2 output channels per step, SMLAD on
 *        SXTAB16/SXTB16 pairs with DSP): the last odd row of mnn_nn_mat_mult_s8() and the
 *        batch-1 fully connected layer.
 * @return pointer past the `out_c` written outputs
 */
int8_t *mnn_nn_vec_mat_mult_s8(const int8_t *x, const int8_t *filter, int32_t out_c,
                               int32_t k, int32_t input_offset, const mnn_s8_out *o,
                               int8_t *out);

/**
 * @brief One output pixel of a depthwise convolution (channel multiplier 1) over the filter
 *        rows [ky0, ky1) and columns [kx0, kx1), already clipped to the image.
 *
 * `in` points at the input pixel under filter tap (ky0, kx0); `row_stride` is `W * C`.
 * With MNN_DSP four channels advance per step: SXTAB16 / SXTB16 split a word of inputs and
 * of weights into (c0, c2) and (c1, c3) halfword pairs and SMLABB / SMLATT accumulate each
 * channel separately.  Always inlined, so constant bounds unroll the window loops.
 */
__attribute__((always_inline)) static inline void
mnn_s8_dw_pixel(const int8_t *in, int32_t row_stride, const int8_t *filter, int32_t kw,
                int32_t channels, int32_t ky0, int32_t ky1, int32_t kx0, int32_t kx1,
                int32_t input_offset, const mnn_s8_out *o, int8_t *out)
{
    MNN_S8_OUT_LOCALS(o);
    const int8_t *w_base = filter + (ky0 * kw + kx0) * channels;
    int32_t c = 0;
#if MNN_DSP
    const uint32_t off2 = mnn_pack_offset(input_offset);
    for (; c + 4 <= channels; c += 4) {
        int32_t a0 = bias[c], a1 = bias[c + 1], a2 = bias[c + 2], a3 = bias[c + 3];
        for (int32_t ky = 0; ky < ky1 - ky0; ky++) {
            const int8_t *ip = in + ky * row_stride + c;
            const int8_t *wp = w_base + ky * kw * channels + c;
            for (int32_t kx = 0; kx < kx1 - kx0; kx++) {
                const uint32_t x = mnn_read_u32(ip + kx * channels);
                const uint32_t w = mnn_read_u32(wp + kx * channels);
                const uint32_t xe = mnn_sxtab16(off2, x);
                const uint32_t xo = mnn_sxtab16_ror8(off2, x);
                const uint32_t we = mnn_sxtb16(w);
                const uint32_t wo = mnn_sxtb16_ror8(w);
                a0 = mnn_smlabb(xe, we, a0);
                a2 = mnn_smlatt(xe, we, a2);
                a1 = mnn_smlabb(xo, wo, a1);
                a3 = mnn_smlatt(xo, wo, a3);
            }
        }
        out[c] = mnn_s8_finish(a0, mult[c], shift[c], out_off, act_min, act_max);
        out[c + 1] = mnn_s8_finish(a1, mult[c + 1], shift[c + 1], out_off, act_min, act_max);
        out[c + 2] = mnn_s8_finish(a2, mult[c + 2], shift[c + 2], out_off, act_min, act_max);
        out[c + 3] = mnn_s8_finish(a3, mult[c + 3], shift[c + 3], out_off, act_min, act_max);
    }
#endif
    for (; c < channels; c++) {
        int32_t acc = bias[c];
        for (int32_t ky = 0; ky < ky1 - ky0; ky++) {
            const int8_t *ip = in + ky * row_stride + c;
            const int8_t *wp = w_base + ky * kw * channels + c;
            for (int32_t kx = 0; kx < kx1 - kx0; kx++) {
                acc += (ip[kx * channels] + input_offset) * wp[kx * channels];
            }
        }
        out[c] = mnn_s8_finish(acc, mult[c], shift[c], out_off, act_min, act_max);
    }
}

/** A clamp inside int8: -128 <= min <= max <= 127. */
static inline int mnn_s8_activation_ok(const mnn_activation *act)
{
    return act->min >= -128 && act->max <= 127 && act->min <= act->max;
}

/** TFLite int8 offsets: input offset (= -zero point) in [-127, 128], output in [-128, 127]. */
static inline int mnn_s8_offsets_ok(int32_t input_offset, int32_t output_offset)
{
    return input_offset >= -127 && input_offset <= 128 && output_offset >= -128 &&
           output_offset <= 127;
}

/**
 * One axis of a window (filter or pooling) and its output size, CMSIS-NN convention: `pad`
 * pixels before, in [0, k - 1]; the padding after is implied by the output size,
 * `after = (out - 1) * stride + k - in - pad`, and must be in (-stride, k - 1] (negative:
 * the last input rows are not used, as in VALID with a stride that does not divide).
 * Then every window overlaps the input and `out = (in + pad + after - k) / stride + 1`.
 */
static inline int mnn_s8_axis_ok(int32_t in, int32_t out, int32_t k, int32_t stride,
                                 int32_t pad)
{
    if (in < 1 || out < 1 || k < 1 || stride < 1 || pad < 0 || pad >= k) {
        return 0;
    }
    const int32_t after = (out - 1) * stride + k - in - pad;
    return after > -stride && after <= k - 1;
}

/** Clip the window of one output coordinate: taps [k0, k1) lie inside [0, size). */
static inline void mnn_s8_clip_window(int32_t start, int32_t k, int32_t size, int32_t *k0,
                                      int32_t *k1)
{
    *k0 = start < 0 ? -start : 0;
    *k1 = start + k > size ? size - start : k;
}

#endif /* MNN_S8_INTERNAL_H */
