/**
 * @file mcu_basic.h
 * @brief The first firmware set: small routines that prove the build -> emulate -> compare
 *        path on every board (used by the tests and the README example).
 */
#ifndef MCU_BASIC_H
#define MCU_BASIC_H

#include <stdint.h>

/**
 * @brief Fletcher-32 checksum of a byte buffer.
 * @param[in] data  buffer of @p len bytes (may be NULL when len is 0)
 * @param[in] len   number of bytes, >= 0
 * @return the checksum, (sum2 << 16) | sum1, both sums modulo 65535
 */
uint32_t mcu_checksum(const uint8_t *data, int32_t len);

/**
 * @brief Dot product of two int8 vectors.
 * @param[in] a, b  vectors of @p len elements
 * @param[in] len   number of elements, >= 0
 * @return sum of a[i] * b[i] as int32 (exact for len < 2^17)
 */
int32_t mcu_dot_s8(const int8_t *a, const int8_t *b, int32_t len);

/**
 * @brief Root-mean-square of a float vector, using the FPU (VMLA/VFMA, VSQRT, VDIV).
 * @param[in] x    vector of @p len floats
 * @param[in] len  number of elements, > 0
 * @return sqrt(sum(x[i]^2) / len), or 0 when len <= 0
 */
float mcu_rms_f32(const float *x, int32_t len);

/**
 * @brief In-place scaling y[i] = y[i] * gain + bias (float, FPU).
 * @param[in,out] y  vector of @p len floats
 * @param[in] len, gain, bias
 */
void mcu_scale_f32(float *y, int32_t len, float gain, float bias);

#endif /* MCU_BASIC_H */
