/**
 * @file mnn_softmax_s8.c
 * @brief int8 softmax bit-exact with TensorFlow Lite Micro's reference (int8 in, int8 out).
 *
 * A port of `tflite::reference_ops::Softmax` and the gemmlowp fixed-point functions it uses
 * (`exp_on_negative_values`, `one_over_one_plus_x_for_x_in_0_1`, TFLite `GetReciprocal`):
 * input differences in Q5.26, exponentials in Q0.31, their sum in Q12.19.  Products are
 * mnn_sat_rounding_doubling_high_mul() (SMULL on the M4/M7), no table, no scratch.
 */
#include "mnn_s8_internal.h"

#define SOFTMAX_DIFF_INTEGER_BITS 5
#define SOFTMAX_ACCUM_INTEGER_BITS 12
/* sum of exps < 2^31: each term is at most 2^19 (exp(0) in Q12.19) */
#define SOFTMAX_MAX_ROW ((1 << (31 - 19)) - 1)

/** gemmlowp `SaturatingRoundingMultiplyByPOT<e>` for 1 <= e <= 30. */
static inline int32_t sat_shift_left(int32_t x, int32_t e)
{
    const int32_t threshold = (int32_t)((1u << (31 - e)) - 1u);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << e);
}

static inline int32_t fmul(int32_t a, int32_t b)
{
    return mnn_sat_rounding_doubling_high_mul(a, b);
}

/** exp(a) for Q0.31 a in [-1/4, 0): Taylor series around -1/8. */
static int32_t exp_quarter_interval(int32_t a)
{
    const int32_t constant_term = 1895147668;     /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883;
    const int32_t x = a + (1 << 28);
    const int32_t x2 = fmul(x, x);
    const int32_t x3 = fmul(x2, x);
    const int32_t x4 = fmul(x2, x2);
    const int32_t x4_over_4 = mnn_rounding_divide_by_pot(x4, 2);
    const int32_t poly =
        mnn_rounding_divide_by_pot(fmul(x4_over_4 + x3, constant_1_over_3) + x2, 1);
    return constant_term + fmul(constant_term, x + poly);
}

/** gemmlowp `exp_on_negative_values` for Q5.26 a <= 0; returns Q0.31. */
static int32_t exp_on_negative_values(int32_t a)
{
    static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308,
                                      39332535,   720401,     242};
    const int32_t frac = 31 - SOFTMAX_DIFF_INTEGER_BITS;
    const int32_t one_quarter = 1 << (frac - 2);
    const int32_t a_mod = (a & (one_quarter - 1)) - one_quarter;
    int32_t result = exp_quarter_interval(sat_shift_left(a_mod, SOFTMAX_DIFF_INTEGER_BITS));
    const int32_t remainder = a_mod - a;
    for (int32_t i = 0; i < 7; i++) {   /* exponents -2 .. 4 */
        if (remainder & (1 << (frac - 2 + i))) {
            result = fmul(result, barrel[i]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/** gemmlowp `one_over_one_plus_x_for_x_in_0_1`: Q0.31 a -> Q0.31 1 / (1 + a). */
static int32_t one_over_one_plus_x(int32_t a)
{
    const int64_t sum = (int64_t)a + INT32_MAX;                 /* RoundingHalfSum(a, 1) */
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = 1515870810 + fmul(half_denominator, -1010580540);   /* Q2.29 48/17 - 32/17 d */
    for (int32_t i = 0; i < 3; i++) {
        const int32_t one_minus_dx = (1 << 29) - fmul(half_denominator, x);
        x = x + sat_shift_left(fmul(x, one_minus_dx), 2);
    }
    return sat_shift_left(x, 1);
}

/** Division by 2^e, rounded half away from zero, for 0 <= e <= 62 (TFLM asserts e <= 31). */
static inline int32_t rounding_divide_by_pot64(int32_t x, int32_t e)
{
    if (e <= 31) {
        return mnn_rounding_divide_by_pot(x, e);
    }
    const int64_t mask = ((int64_t)1 << e) - 1;
    const int64_t remainder = (int64_t)x & mask;
    const int64_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (int32_t)(((int64_t)x >> e) + (remainder > threshold ? 1 : 0));
}

/** Q5.26 scaled difference: TFLite `MultiplyByQuantizedMultiplierGreaterThanOne`. */
static inline int32_t scaled_diff(int32_t diff, const mnn_softmax_params *p)
{
    return fmul((int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
}

mnn_status mnn_softmax_s8(const mnn_softmax_params *params, const int8_t *input,
                          int32_t num_rows, int32_t row_size, int8_t *output)
{
    if (params == NULL || input == NULL || output == NULL || num_rows < 0 || row_size < 1 ||
        row_size > SOFTMAX_MAX_ROW || params->input_multiplier < 0 ||
        params->input_left_shift < 0 || params->input_left_shift > 31 ||
        params->diff_min > 0) {
        return MNN_ARG_ERROR;
    }
    const int32_t diff_min = params->diff_min;
    for (int32_t r = 0; r < num_rows; r++) {
        const int8_t *in = input + (size_t)r * row_size;
        int8_t *out = output + (size_t)r * row_size;
        int32_t max = -128;
        for (int32_t c = 0; c < row_size; c++) {
            max = in[c] > max ? in[c] : max;
        }
        int32_t sum = 0;
        for (int32_t c = 0; c < row_size; c++) {
            const int32_t diff = in[c] - max;
            if (diff >= diff_min) {
                sum += mnn_rounding_divide_by_pot(exp_on_negative_values(scaled_diff(diff, params)),
                                                  SOFTMAX_ACCUM_INTEGER_BITS);
            }
        }
        /* GetReciprocal: sum = (1 + x) * 2^bits_over_unit with x in [0, 1) */
        const int32_t headroom_plus_one = __builtin_clz((uint32_t)sum);
        const int32_t bits_over_unit = SOFTMAX_ACCUM_INTEGER_BITS - headroom_plus_one;
        const int32_t shifted_scale =
            one_over_one_plus_x((int32_t)(((uint32_t)sum << headroom_plus_one) - 0x80000000u));
        const int32_t out_shift = bits_over_unit + 31 - 8;
        /* each input is read before its output is written: output may alias input */
        for (int32_t c = 0; c < row_size; c++) {
            const int32_t diff = in[c] - max;
            int32_t v = -128;
            if (diff >= diff_min) {
                const int32_t e = exp_on_negative_values(scaled_diff(diff, params));
                v = rounding_divide_by_pot64(fmul(shifted_scale, e), out_shift) - 128;
                v = v > 127 ? 127 : v;
            }
            out[c] = (int8_t)v;
        }
    }
    return MNN_OK;
}
