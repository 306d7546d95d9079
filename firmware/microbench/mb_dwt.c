/* The DWT program of the speed benchmarks: the int8 dot-product loop of mb_programs.c timed
 * with the DWT cycle counter, as benchmarking firmware on a board times itself.  Its image
 * holds the DWT address, so mcusim serves CYCCNT reads with the modelled cycles. */
#include <stdint.h>

#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)       /* ARMv7-M ARM C1.6.5 */
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)    /* ARMv7-M ARM C1.8.7 */
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)  /* ARMv7-M ARM C1.8.8 */

int32_t mb_dot_repeat(const int8_t *a, const int8_t *b, int32_t n, int32_t reps);

/* Cycles of `reps` dot products of length `n`, read from CYCCNT around the loop. */
uint32_t mb_timed_dot(const int8_t *a, const int8_t *b, int32_t n, int32_t reps)
{
    DEMCR |= 1u << 24;   /* TRCENA */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;      /* CYCCNTENA */
    uint32_t t0 = DWT_CYCCNT;
    volatile int32_t r = mb_dot_repeat(a, b, n, reps);
    (void)r;
    return DWT_CYCCNT - t0;
}
