#include <math.h>
#include "mcu_basic.h"

float mcu_rms_f32(const float *x, int32_t len)
{
    if (len <= 0) {
        return 0.0f;
    }
    float acc = 0.0f;
    for (int32_t i = 0; i < len; i++) {
        acc += x[i] * x[i];
    }
    return sqrtf(acc / (float)len);
}
