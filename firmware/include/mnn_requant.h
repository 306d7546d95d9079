/**
 * @file mnn_requant.h
 * @brief TFLite-exact fixed-point requantisation, shared read-only by every kernel family.
 *
 * `mnn_requantize(acc, multiplier, shift)` is TFLite's `MultiplyByQuantizedMultiplier`:
 *
 *     x   = acc * 2^max(shift, 0)                      (two's-complement wrap, as in int32)
 *     hi  = SaturatingRoundingDoublingHighMul(x, multiplier)
 *     out = RoundingDivideByPOT(hi, max(-shift, 0))
 *
 * - `SaturatingRoundingDoublingHighMul(a, b)` = round-half-away-from-zero of a*b / 2^31
 *   (nudge +2^30 for a non-negative product, 1-2^30 for a negative one, then truncating
 *   division; computed here as the equal floor((a*b + 2^30) / 2^31)), saturated to
 *   INT32_MAX for a == b == INT32_MIN;
 * - `RoundingDivideByPOT(x, e)` = x / 2^e rounded half away from zero.
 *
 * The numpy mirror is `mcusim.kernels.quant.requantize`; both are compared bit-exactly.
 * The signature is stable: other families include this header.
 */
#ifndef MNN_REQUANT_H
#define MNN_REQUANT_H

#include <stdint.h>

/**
 * @brief Saturating rounding doubling high multiply (gemmlowp / TFLite).
 * @param[in] a  multiplicand
 * @param[in] b  multiplier (Q31)
 * @return floor(a * b / 2^31 + 1/2), saturated for a == b == INT32_MIN
 */
static inline int32_t mnn_sat_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    /* TFLite adds 2^30 to a non-negative product and 1 - 2^30 to a negative one, then
     * divides by 2^31 truncating toward zero.  For a negative product -y that is
     * -floor((y + 2^30 - 1) / 2^31) = -ceil((y - 2^30) / 2^31) = floor((2^30 - y) / 2^31),
     * so both cases equal floor((ab + 2^30) / 2^31): one SMLAL and an arithmetic shift. */
    const int64_t ab = (int64_t)a * (int64_t)b + ((int64_t)1 << 30);
    return (int32_t)(ab >> 31);
}

/**
 * @brief Division by 2^exponent rounded half away from zero (gemmlowp `RoundingDivideByPOT`).
 * @param[in] x         dividend
 * @param[in] exponent  0..31
 * @return x / 2^exponent, rounded
 */
static inline int32_t mnn_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/**
 * @brief Requantise an int32 accumulator: TFLite `MultiplyByQuantizedMultiplier`.
 * @param[in] acc         accumulator (bias + sum of products)
 * @param[in] multiplier  Q31 fixed-point multiplier in [2^30, 2^31) (or 0)
 * @param[in] shift       power-of-two exponent in [-31, 30]; positive = left shift
 * @return acc * multiplier * 2^shift / 2^31 with TFLite rounding (not clamped to int8)
 */
static inline int32_t mnn_requantize(int32_t acc, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int32_t x = (int32_t)((uint32_t)acc << left);
    return mnn_rounding_divide_by_pot(mnn_sat_rounding_doubling_high_mul(x, multiplier), right);
}

#endif /* MNN_REQUANT_H */
