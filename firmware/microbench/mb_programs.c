/* Small C programs for the profile tests and the emulation-speed benchmark: branch-heavy
 * integer code with calls (Collatz steps, insertion sort, a switch dispatch), built at -O2
 * like the kernels. */
#include <stdint.h>

uint32_t mb_collatz_steps(uint32_t n) __attribute__((noinline));
uint32_t mb_collatz_steps(uint32_t n)
{
    uint32_t steps = 0;
    while (n > 1u) {
        n = (n & 1u) ? 3u * n + 1u : n >> 1;
        steps++;
    }
    return steps;
}

static int32_t classify(int32_t v) __attribute__((noinline));
static int32_t classify(int32_t v)
{
    switch (v & 7) {
    case 0: return v + 3;
    case 1: return v ^ 0x55;
    case 2: return v * 5;
    case 3: return v - 7;
    case 4: return v >> 2;
    case 5: return v | 9;
    case 6: return -v;
    default: return v & 0xff;
    }
}

void mb_insertion_sort(int32_t *a, int32_t n) __attribute__((noinline));
void mb_insertion_sort(int32_t *a, int32_t n)
{
    for (int32_t i = 1; i < n; i++) {
        int32_t key = a[i];
        int32_t j = i - 1;
        while (j >= 0 && a[j] > key) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = key;
    }
}

/* Branch-heavy integer program: Collatz steps of 1..count, a switch per value, then an
 * insertion sort of `n` values in `work` (filled here).  Returns a checksum. */
uint32_t mb_branchy(uint32_t count, int32_t *work, int32_t n)
{
    uint32_t total = 0;
    for (uint32_t i = 1; i <= count; i++) {
        total += mb_collatz_steps(i);
        total += (uint32_t)classify((int32_t)i);
    }
    uint32_t x = 12345u;
    for (int32_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        work[i] = (int32_t)(x >> 8);
    }
    mb_insertion_sort(work, n);
    for (int32_t i = 0; i < n; i++) {
        total += (uint32_t)work[i] * (uint32_t)(i + 1);
    }
    return total;
}

/* The int8 kernel loop of the speed benchmark: `reps` dot products of length `n`
 * (the same loop as firmware/basic/mcu_dot_s8.c, kept here so this file links alone). */
int32_t mb_dot_s8(const int8_t *a, const int8_t *b, int32_t n) __attribute__((noipa));
int32_t mb_dot_s8(const int8_t *a, const int8_t *b, int32_t n)
{
    int32_t acc = 0;
    for (int32_t i = 0; i < n; i++) {
        acc += (int32_t)a[i] * (int32_t)b[i];
    }
    return acc;
}

int32_t mb_dot_repeat(const int8_t *a, const int8_t *b, int32_t n, int32_t reps)
{
    int32_t acc = 0;
    for (int32_t r = 0; r < reps; r++) {
        acc += mb_dot_s8(a, b, n);
    }
    return acc;
}
