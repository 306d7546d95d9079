/**
 * @file mnn_trec_gather_s16.c
 * @brief Internal: gathers one block of the im2col rows of a tile as int16 (offset added),
 *        in the element order of mnn_trec_perm().
 */
#include "mnn_trec_internal.h"

/** Copies `run` int8 values (offset added) to block positions l..l+run-1 of `d`. */
static inline void mnn_trec_copy_run(int16_t *d, const int8_t *src, int32_t l, int32_t run,
                                     int32_t len, int32_t offset, int inside) {
    int32_t t = 0;
#if MNN_DSP
    const int32_t len4 = len & ~3;
    const int32_t off2 = (int32_t)(((uint32_t)offset & 0xFFFFu) | ((uint32_t)offset << 16));
    /* head up to a group boundary, then whole groups: two SXTB16 give (x0, x2), (x1, x3) */
    for (; t < run && ((l + t) & 3) != 0; ++t)
        d[mnn_trec_perm(l + t, len)] = inside ? (int16_t)(src[t] + offset) : 0;
    for (; t + 4 <= run && l + t + 4 <= len4; t += 4) {
        int32_t v = 0, lo = 0, hi = 0;
        if (inside) {
            memcpy(&v, src + t, 4);
            lo = __sadd16(__sxtb16(v), off2);
            hi = __sadd16(__sxtb16(mnn_trec_ror8(v)), off2);
        }
        memcpy(d + l + t, &lo, 4);
        memcpy(d + l + t + 2, &hi, 4);
    }
#endif
    for (; t < run; ++t)
        d[mnn_trec_perm(l + t, len)] = inside ? (int16_t)(src[t] + offset) : 0;
}

void mnn_trec_gather_s16(const mnn_trec_conv_params *conv, const int8_t *input, int32_t pos0,
                         int32_t rows, int32_t k0, int32_t len, int16_t *dst, int32_t lp) {
    const int32_t cin = conv->input.c, kw = conv->filter.w;
    const int32_t in_h = conv->input.h, in_w = conv->input.w, out_w = conv->output.w;
    const int32_t rowlen = kw * cin; /* one kernel row: contiguous in the input */
    /* (ky, position in the kernel row) of the block's first element, shared by every row */
    const int32_t ky0 = k0 / rowlen, kk0 = k0 % rowlen;
    int32_t oy = pos0 / out_w, ox = pos0 % out_w;
    for (int32_t r = 0; r < rows; ++r) {
        const int32_t iy0 = oy * conv->stride.h - conv->padding.h;
        const int32_t ix0 = ox * conv->stride.w - conv->padding.w;
        const int full_w = ix0 >= 0 && ix0 + kw <= in_w;
        int16_t *d = dst + r * lp;
        int32_t ky = ky0, kk = kk0, l = 0;
        while (l < len) {
            const int32_t iy = iy0 + ky;
            int32_t run, inside;
            if (full_w) {           /* the rest of the kernel row in one run */
                run = rowlen - kk;
                inside = iy >= 0 && iy < in_h;
            } else {                /* border: pixel by pixel */
                const int32_t ix = ix0 + kk / cin;
                run = cin - kk % cin;
                inside = iy >= 0 && iy < in_h && ix >= 0 && ix < in_w;
            }
            if (run > len - l) run = len - l;
            mnn_trec_copy_run(d, input + (iy * in_w + ix0) * cin + kk, l, run, len,
                              conv->input_offset, inside);
            l += run;
            kk += run;
            if (kk == rowlen) { kk = 0; ++ky; }
        }
        if (++ox == out_w) { ox = 0; ++oy; }
    }
}
