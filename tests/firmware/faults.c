/* Programs that fault on purpose, one per fault kind mcusim must report. */
#include <stdint.h>

volatile uint32_t sink;
const uint32_t in_flash = 0x12345678u;

uint32_t read_unmapped(void)
{
    return *(volatile uint32_t *)0x60000000u;  /* FMC bank: nothing mapped there */
}

void write_flash(uint32_t value)
{
    *(volatile uint32_t *)&in_flash = value;
}

void undefined_instruction(void)
{
    __asm__ volatile(".inst.n 0xde42");  /* UDF #0x42 */
}

void invalid_state(void)
{
    /* BX to an even address: switch to ARM state, which M-profile cores do not have. */
    __asm__ volatile("mov r0, #0x08000000\n\tbx r0" ::: "r0");
}

uint32_t recurse(uint32_t depth)
{
    volatile uint32_t frame[64];
    frame[0] = depth;
    if (depth == 0) {
        return frame[0];
    }
    return recurse(depth - 1) + frame[0];
}

void spin(void)
{
    for (;;) {
        sink++;
    }
}

uint32_t add_many(uint32_t a, uint32_t b, uint32_t c, uint32_t d, uint32_t e, uint32_t f)
{
    return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f;
}

uint64_t mul64(uint32_t a, uint32_t b)
{
    return (uint64_t)a * b;
}

/* stores only (no load of dst): an out-of-bounds n shows a write past the buffer */
void fill_words(uint32_t *dst, int32_t n, uint32_t value)
{
    for (int32_t i = 0; i < n; i++) {
        dst[i] = value;
    }
}

int main(void)
{
    sink = 7;
    return 3;
}

void sleep_wfi(void)
{
    __asm__ volatile("wfi");
}

void sleep_wfe(void)
{
    __asm__ volatile("wfe");
}

void jump_to(uint32_t address)
{
    ((void (*)(void))address)();
}

void bad_return(void)
{
    /* return through a corrupted link register */
    __asm__ volatile("ldr lr, =0x60000001\n\tbx lr");
}

uint64_t load64(const uint64_t *p)
{
    uint64_t v;
    __asm__ volatile("ldrd %Q0, %R0, [%1]" : "=r"(v) : "r"(p));
    return v;
}

uint32_t load_multiple(const uint32_t *p)
{
    uint32_t a, b;
    __asm__ volatile("ldm %2, {%0, %1}" : "=l"(a), "=l"(b) : "l"(p));
    return a + b;
}

uint32_t divide(uint32_t a, uint32_t b, uint32_t trap)
{
    volatile uint32_t *ccr = (volatile uint32_t *)0xE000ED14u;  /* SCB->CCR */
    if (trap) {
        *ccr |= 1u << 4;   /* DIV_0_TRP */
    } else {
        *ccr &= ~(1u << 4);
    }
    uint32_t q;
    __asm__ volatile("udiv %0, %1, %2" : "=r"(q) : "r"(a), "r"(b));
    return q;
}
