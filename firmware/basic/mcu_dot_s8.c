#include "mcu_basic.h"

int32_t mcu_dot_s8(const int8_t *a, const int8_t *b, int32_t len)
{
    int32_t acc = 0;
    for (int32_t i = 0; i < len; i++) {
        acc += (int32_t)a[i] * (int32_t)b[i];
    }
    return acc;
}
