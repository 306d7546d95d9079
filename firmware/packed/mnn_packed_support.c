/**
 * @file mnn_packed_support.c
 * @brief Internal: activation sum and bit-stream copies.
 */
#include "mnn_packed_internal.h"

uint32_t mnn_pk_sum(const uint8_t *a, int32_t k, int32_t bits)
{
    const uint32_t *words = (const uint32_t *)(const void *)a;
    const int32_t per_word = 32 / bits;
    const int32_t nwords = k / per_word;
    uint32_t total = 0;
    for (int32_t i = 0; i < nwords; i++) {
        uint32_t y = words[i];
        if (bits == 2) { /* fields of 4 bits (<= 6), then bytes (<= 12) */
            y = (y & 0x33333333u) + ((y >> 2) & 0x33333333u);
        }
        if (bits <= 4) { /* bytes (<= 30) */
            y = (y & 0x0F0F0F0Fu) + ((y >> 4) & 0x0F0F0F0Fu);
        }
        y = (y & 0x00FF00FFu) + ((y >> 8) & 0x00FF00FFu); /* halfwords (<= 510) */
        total += (y & 0xFFFFu) + (y >> 16);
    }
    for (int32_t i = nwords * per_word; i < k; i++) {
        total += mnn_pk_get(a, i, bits);
    }
    return total;
}

/* Value-by-value copy with a constant width, so the shifts and masks fold. */
static inline __attribute__((always_inline)) void
mnn_pk_copy_each(uint8_t *dst, int32_t di, const uint8_t *src, int32_t si, int32_t count,
                 const int32_t bits)
{
    for (int32_t i = 0; i < count; i++) {
        mnn_pk_put(dst, di + i, bits, mnn_pk_get(src, si + i, bits));
    }
}

void mnn_pk_copy_values(uint8_t *dst, int32_t di, const uint8_t *src, int32_t si, int32_t count,
                        int32_t bits)
{
    const int32_t per_byte = 8 / bits;
    if (di % per_byte == 0 && si % per_byte == 0) {
        const int32_t nbytes = count / per_byte;
        uint8_t *d = dst + di / per_byte;
        const uint8_t *s = src + si / per_byte;
        for (int32_t i = 0; i < nbytes; i++) {
            d[i] = s[i];
        }
        di += nbytes * per_byte;
        si += nbytes * per_byte;
        count -= nbytes * per_byte;
    }
    if (bits == 2) {
        mnn_pk_copy_each(dst, di, src, si, count, 2);
    } else if (bits == 4) {
        mnn_pk_copy_each(dst, di, src, si, count, 4);
    } else {
        mnn_pk_copy_each(dst, di, src, si, count, 8);
    }
}

void mnn_pk_fill_values(uint8_t *dst, int32_t di, int32_t count, int32_t bits, uint32_t v)
{
    const int32_t per_byte = 8 / bits;
    while (count > 0 && di % per_byte != 0) {
        mnn_pk_put(dst, di++, bits, v);
        count--;
    }
    uint32_t pattern = v;
    for (int32_t i = 1; i < per_byte; i++) {
        pattern |= v << (i * bits);
    }
    uint8_t *d = dst + di / per_byte;
    const int32_t nbytes = count / per_byte;
    for (int32_t i = 0; i < nbytes; i++) {
        d[i] = (uint8_t)pattern;
    }
    di += nbytes * per_byte;
    count -= nbytes * per_byte;
    for (int32_t i = 0; i < count; i++) {
        mnn_pk_put(dst, di + i, bits, v);
    }
}
