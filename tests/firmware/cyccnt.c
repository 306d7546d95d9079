/* Firmware that times itself with the DWT cycle counter, as benchmarking code on a board does. */
#include <stdint.h>

#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)

__attribute__((noipa)) int32_t work(const int8_t *a, int32_t n)
{
    int32_t acc = 0;
    for (int32_t i = 0; i < n; i++) {
        acc += a[i] * a[i];
    }
    return acc;
}

uint32_t measure(const int8_t *a, int32_t n)
{
    DEMCR |= 1u << 24;   /* TRCENA */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;      /* CYCCNTENA */
    uint32_t t0 = DWT_CYCCNT;
    volatile int32_t r = work(a, n);
    (void)r;
    uint32_t t1 = DWT_CYCCNT;
    return t1 - t0;
}
