#include "mcu_basic.h"

uint32_t mcu_checksum(const uint8_t *data, int32_t len)
{
    uint32_t sum1 = 0, sum2 = 0;
    for (int32_t i = 0; i < len; i++) {
        sum1 = (sum1 + data[i]) % 65535u;
        sum2 = (sum2 + sum1) % 65535u;
    }
    return (sum2 << 16) | sum1;
}
