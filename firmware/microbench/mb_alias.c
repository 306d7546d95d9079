/* The aliasing program of the emulation-speed benchmark: a hot loop in Flash that stores to
 * every word of a 32 KiB global table, again and again.  With the default 16 KiB stack the
 * table starts at the beginning of .bss, just above 0x2000_4000 on the STM32 boards, so its
 * stores reach SRAM at 0x2000_4000 + X and 0x2000_8000 + X for the small Flash offsets X of
 * this code: the addresses at which Unicorn used to throw away and re-translate the code at
 * 0x0800_0000 + X (issue 14). */
#include <stdint.h>

static uint32_t mb_alias_table[8192];

/* `reps` passes over the table, each adding to every word; returns a checksum. */
uint32_t mb_alias_sweep(uint32_t reps)
{
    uint32_t sum = 0;
    for (uint32_t r = 0; r < reps; r++) {
        for (uint32_t i = 0; i < 8192u; i++) {
            mb_alias_table[i] += i ^ r;
        }
        sum += mb_alias_table[r & 8191u];
    }
    return sum;
}
