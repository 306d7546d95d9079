/**
 * @file mnn_types.h
 * @brief Types shared by every mcusim neural-network kernel family (s8, packed, trec).
 *
 * Conventions (as in CMSIS-NN):
 *  - tensors are NHWC (`[N, H, W, C]`), batch 1 unless a kernel says otherwise;
 *  - the caller owns all memory, including scratch; a kernel that needs scratch has a
 *    `<kernel>_get_buffer_size()` sibling built from the same `#if` branches;
 *  - every kernel returns an ::mnn_status.
 *
 * The DSP switch is derived here, once, from the compiler: `MNN_DSP` is 1 when the core has
 * the DSP extension (`__ARM_FEATURE_DSP`) unless the build defines `MNN_FORCE_PLAIN_C`
 * (used by mcusim to build and test the plain-C path on the same core).
 */
#ifndef MNN_TYPES_H
#define MNN_TYPES_H

#include <stdint.h>
#include <stddef.h>

#if defined(__ARM_FEATURE_DSP) && (__ARM_FEATURE_DSP == 1) && !defined(MNN_FORCE_PLAIN_C)
#define MNN_DSP 1
#else
#define MNN_DSP 0
#endif

/** Return status of every kernel. */
typedef enum {
    MNN_OK = 0,             /**< success */
    MNN_ARG_ERROR = -1,     /**< mismatched or out-of-range dimensions/parameters, or a NULL buffer */
    MNN_NO_SCRATCH = -2,    /**< scratch buffer missing or smaller than `..._get_buffer_size()` */
} mnn_status;

/** Tensor dimensions, NHWC. */
typedef struct {
    int32_t n; /**< batch */
    int32_t h; /**< height */
    int32_t w; /**< width */
    int32_t c; /**< channels */
} mnn_dims;

/** A 2-D tile (stride, padding, dilation, kernel size). */
typedef struct {
    int32_t w;
    int32_t h;
} mnn_tile;

/** Activation clamp applied after requantisation (ReLU/ReLU6 are clamps). */
typedef struct {
    int32_t min;
    int32_t max;
} mnn_activation;

/** Caller-owned scratch memory. */
typedef struct {
    void *buf;     /**< scratch buffer, may be NULL when size is 0 */
    int32_t size;  /**< its size in bytes */
} mnn_context;

/** Per-channel requantisation: out = (acc * multiplier[c]) >> shift[c] with TFLite rounding. */
typedef struct {
    const int32_t *multiplier; /**< Q31 fixed-point multipliers, one per output channel */
    const int32_t *shift;      /**< shifts, one per output channel (positive = left) */
} mnn_per_channel_quant;

#endif /* MNN_TYPES_H */
