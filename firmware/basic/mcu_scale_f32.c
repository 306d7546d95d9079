#include "mcu_basic.h"

void mcu_scale_f32(float *y, int32_t len, float gain, float bias)
{
    for (int32_t i = 0; i < len; i++) {
        y[i] = y[i] * gain + bias;
    }
}
