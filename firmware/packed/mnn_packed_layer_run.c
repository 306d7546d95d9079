/**
 * @file mnn_packed_layer_run.c
 * @brief Internal: shared fully connected and convolution drivers of both strategies.
 */
#include "mnn_packed_internal.h"
#include "mnn_requant.h"

static int mnn_pk_bits_ok(int32_t b)
{
    return b == 2 || b == 4 || b == 8;
}

static int mnn_pk_aligned(const void *p)
{
    return ((uintptr_t)p & 3u) == 0;
}

/* Common checks of bit widths, zero points and clamp. */
static int mnn_pk_layer_ok(const mnn_packed_layer *l)
{
    if (!mnn_pk_bits_ok(l->w_bits) || !mnn_pk_bits_ok(l->in_bits) || !mnn_pk_bits_ok(l->out_bits)) {
        return 0;
    }
    const int32_t omax = (int32_t)MNN_PK_MAXV(l->out_bits);
    return l->input_zero_point >= 0 && l->input_zero_point <= (int32_t)MNN_PK_MAXV(l->in_bits) &&
           l->activation.min >= 0 && l->activation.min <= l->activation.max &&
           l->activation.max <= omax;
}

/* Everything the per-row output loop needs, hoisted out of the structs. */
typedef struct {
    mnn_pk_dot_fn dot;
    const uint8_t *filter;
    const int32_t *correction;
    const int32_t *multiplier;
    const int32_t *shift;
    int32_t channels;   /* C_out (N) */
    int32_t row_bytes;  /* bytes of one weight row */
    int32_t block_bytes; /* bytes of one weight block */
    int32_t w_bits;
    int32_t out_bits;
    int32_t out_zero_point;
    int32_t act_min;
    int32_t act_max;
} mnn_pk_job;

static void mnn_pk_job_init(mnn_pk_job *job, const mnn_packed_layer *l,
                            const mnn_per_channel_quant *quant, const uint8_t *filter,
                            const int32_t *correction, mnn_pk_dot_fn dot)
{
    const mnn_dims *f = &l->filter_dims;
    job->dot = dot;
    job->filter = filter;
    job->correction = correction;
    job->multiplier = quant->multiplier;
    job->shift = quant->shift;
    job->channels = f->n;
    job->row_bytes = mnn_packed_row_bytes(f->h * f->w * f->c, l->w_bits, l->w_bits, l->in_bits);
    job->block_bytes = MNN_PK_BLOCK(l->w_bits, l->in_bits) * l->w_bits / 8;
    job->w_bits = l->w_bits;
    job->out_bits = l->out_bits;
    job->out_zero_point = l->output_zero_point;
    job->act_min = l->activation.min;
    job->act_max = l->activation.max;
}

/* Requantise, clamp and store output `index` of channel `o`. */
static inline void mnn_pk_finish(const mnn_pk_job *job, int32_t o, uint32_t dot, int32_t sum_term,
                                 uint8_t *output, int32_t index)
{
    const int32_t acc = job->correction[o] + (int32_t)dot - sum_term;
    int32_t v = mnn_requantize(acc, job->multiplier[o], job->shift[o]) + job->out_zero_point;
    v = v < job->act_min ? job->act_min : v;
    v = v > job->act_max ? job->act_max : v;
    mnn_pk_put(output, index, job->out_bits, (uint32_t)v);
}

/** Output channels whose dot products are computed in one call (stack buffer). */
#define MNN_PK_CHUNK 32

/*
 * All C_out outputs of one activation row of `nb` whole blocks (plus, when `last` is not
 * NULL, one more block read from `last`), stored from output index `base`.
 */
static void mnn_pk_row_outputs(const mnn_pk_job *job_in, const uint8_t *row, int32_t nb,
                               const uint8_t *last, int32_t sum, uint8_t *output, int32_t base)
{
    const mnn_pk_job job_copy = *job_in; /* a local copy: byte stores cannot alias it */
    const mnn_pk_job *job = &job_copy;
    const int32_t sum_term = (int32_t)((uint32_t)sum << (job->w_bits - 1));
    const int32_t rb = job->row_bytes;
    const int32_t tail_offset = nb * job->block_bytes;
    uint32_t d[MNN_PK_CHUNK], t[MNN_PK_CHUNK];
    for (int32_t o0 = 0; o0 < job->channels; o0 += MNN_PK_CHUNK) {
        const int32_t count = job->channels - o0 < MNN_PK_CHUNK ? job->channels - o0 : MNN_PK_CHUNK;
        const uint8_t *w = job->filter + o0 * rb;
        job->dot(row, w, rb, nb, count, d);
        if (last != NULL) {
            job->dot(last, w + tail_offset, rb, 1, count, t);
            for (int32_t i = 0; i < count; i++) {
                d[i] += t[i];
            }
        }
        for (int32_t i = 0; i < count; i++) {
            mnn_pk_finish(job, o0 + i, d[i], sum_term, output, base + o0 + i);
        }
    }
}

mnn_status mnn_pk_fc_run(const mnn_packed_layer *layer, const mnn_per_channel_quant *quant,
                         const uint8_t *input, const uint8_t *filter, const int32_t *correction,
                         uint8_t *output, mnn_pk_dot_fn dot)
{
    if (layer == NULL || quant == NULL || input == NULL || filter == NULL || correction == NULL ||
        output == NULL || dot == NULL || !mnn_pk_layer_ok(layer) || !mnn_pk_aligned(input) ||
        !mnn_pk_aligned(filter)) {
        return MNN_ARG_ERROR;
    }
    const mnn_dims *f = &layer->filter_dims;
    const int32_t k = f->h * f->w * f->c;
    const mnn_dims *in = &layer->input_dims;
    if (k <= 0 || f->n <= 0 || in->h * in->w * in->c != k || layer->output_dims.c != f->n) {
        return MNN_ARG_ERROR;
    }
    mnn_pk_job job;
    mnn_pk_job_init(&job, layer, quant, filter, correction, dot);
    const int32_t v = MNN_PK_BLOCK(layer->w_bits, layer->in_bits);
    const int32_t nb = k / v;
    uint32_t last[4] = {0, 0, 0, 0}; /* a zero-padded copy of the last partial block */
    if (k % v != 0) {
        mnn_pk_copy_values((uint8_t *)last, 0, input, nb * v, k % v, layer->in_bits);
    }
    mnn_pk_row_outputs(&job, input, nb, k % v != 0 ? (const uint8_t *)last : NULL,
                       (int32_t)mnn_pk_sum(input, k, layer->in_bits), output, 0);
    return MNN_OK;
}

int32_t mnn_pk_conv_scratch(const mnn_packed_layer *layer)
{
    if (layer == NULL || !mnn_pk_bits_ok(layer->in_bits) || !mnn_pk_bits_ok(layer->w_bits)) {
        return 0;
    }
    const mnn_dims *f = &layer->filter_dims;
    return mnn_packed_row_bytes(f->h * f->w * f->c, layer->in_bits, layer->w_bits, layer->in_bits);
}

mnn_status mnn_pk_conv_run(const mnn_context *ctx, const mnn_packed_layer *layer,
                           const mnn_per_channel_quant *quant, const uint8_t *input,
                           const uint8_t *filter, const int32_t *correction, uint8_t *output,
                           mnn_pk_dot_fn dot)
{
    if (layer == NULL || quant == NULL || input == NULL || filter == NULL || correction == NULL ||
        output == NULL || dot == NULL || !mnn_pk_layer_ok(layer) || !mnn_pk_aligned(input) ||
        !mnn_pk_aligned(filter)) {
        return MNN_ARG_ERROR;
    }
    const mnn_dims *in = &layer->input_dims;
    const mnn_dims *f = &layer->filter_dims;
    const mnn_dims *out = &layer->output_dims;
    const int32_t sx = layer->stride.w, sy = layer->stride.h;
    const int32_t px = layer->padding.w, py = layer->padding.h;
    if (f->c != in->c || out->c != f->n || sx < 1 || sy < 1 || px < 0 || py < 0 || f->n <= 0 ||
        out->h != (in->h + 2 * py - f->h) / sy + 1 || out->w != (in->w + 2 * px - f->w) / sx + 1 ||
        out->h <= 0 || out->w <= 0) {
        return MNN_ARG_ERROR;
    }
    const int32_t need = mnn_pk_conv_scratch(layer);
    if (ctx == NULL || ctx->buf == NULL || ctx->size < need || !mnn_pk_aligned(ctx->buf)) {
        return MNN_NO_SCRATCH;
    }
    uint8_t *row = (uint8_t *)ctx->buf;
    const int32_t c = in->c;
    const int32_t k = f->h * f->w * c;
    const int32_t bits = layer->in_bits;
    const int32_t v = MNN_PK_BLOCK(layer->w_bits, bits);
    const int32_t nb = (k + v - 1) / v;
    mnn_pk_job job;
    mnn_pk_job_init(&job, layer, quant, filter, correction, dot);
    mnn_pk_fill_values(row, k, nb * v - k, bits, 0u); /* block padding, never overwritten */
    for (int32_t oy = 0; oy < out->h; oy++) {
        for (int32_t ox = 0; ox < out->w; ox++) {
            const int32_t ix0 = ox * sx - px;
            const int inside_x = ix0 >= 0 && ix0 + f->w <= in->w;
            for (int32_t ky = 0; ky < f->h; ky++) {
                const int32_t iy = oy * sy - py + ky;
                const int32_t di = ky * f->w * c;
                if (iy < 0 || iy >= in->h) {
                    mnn_pk_fill_values(row, di, f->w * c, bits, (uint32_t)layer->input_zero_point);
                } else if (inside_x) { /* the kernel row is one contiguous span of the input */
                    mnn_pk_copy_values(row, di, input, (iy * in->w + ix0) * c, f->w * c, bits);
                } else {
                    for (int32_t kx = 0; kx < f->w; kx++) {
                        const int32_t ix = ix0 + kx;
                        if (ix < 0 || ix >= in->w) {
                            mnn_pk_fill_values(row, di + kx * c, c, bits,
                                               (uint32_t)layer->input_zero_point);
                        } else {
                            mnn_pk_copy_values(row, di + kx * c, input, (iy * in->w + ix) * c, c,
                                               bits);
                        }
                    }
                }
            }
            mnn_pk_row_outputs(&job, row, nb, NULL, (int32_t)mnn_pk_sum(row, k, bits), output,
                               (oy * out->w + ox) * out->c);
        }
    }
    return MNN_OK;
}
