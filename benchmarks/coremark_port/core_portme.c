/* CoreMark port for mcusim: seeds, DWT CYCCNT timing, start-up checks (see core_portme.h). */
#include "coremark.h"
#include "core_portme.h"

#include <stdint.h>

#ifndef ITERATIONS
#define ITERATIONS 10
#endif
#ifndef MCUSIM_CLOCK_HZ
#error "MCUSIM_CLOCK_HZ (the board's core clock) must be defined"
#endif

/* The performance-run seeds of CoreMark's run rules (0, 0, 0x66). */
#if VALIDATION_RUN
volatile ee_s32 seed1_volatile = 0x3415;
volatile ee_s32 seed2_volatile = 0x3415;
volatile ee_s32 seed3_volatile = 0x66;
#endif
#if PERFORMANCE_RUN
volatile ee_s32 seed1_volatile = 0x0;
volatile ee_s32 seed2_volatile = 0x0;
volatile ee_s32 seed3_volatile = 0x66;
#endif
#if PROFILE_RUN
volatile ee_s32 seed1_volatile = 0x8;
volatile ee_s32 seed2_volatile = 0x8;
volatile ee_s32 seed3_volatile = 0x8;
#endif
volatile ee_s32 seed4_volatile = ITERATIONS;
volatile ee_s32 seed5_volatile = 0;

/* ARMv7-M debug registers (ARMv7-M ARM C1.6.5 DEMCR, C1.8.7 DWT_CTRL, C1.8.8 DWT_CYCCNT). */
#define DEMCR      (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL   (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)

static CORETIMETYPE start_time_val, stop_time_val;

void start_time(void) { start_time_val = DWT_CYCCNT; }

void stop_time(void) { stop_time_val = DWT_CYCCNT; }

CORE_TICKS get_time(void) { return (CORE_TICKS)(stop_time_val - start_time_val); }

secs_ret time_in_secs(CORE_TICKS ticks)
{
    return (secs_ret)(ticks / (CORE_TICKS)MCUSIM_CLOCK_HZ);
}

ee_u32 default_num_contexts = 1;

void portable_init(core_portable *p, int *argc, char *argv[])
{
    (void)argc;
    (void)argv;
    DEMCR |= 1u << 24;    /* TRCENA: enable the DWT */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;       /* CYCCNTENA */
    if (sizeof(ee_ptr_int) != sizeof(ee_u8 *))
        ee_printf("ERROR! Please define ee_ptr_int to a type that holds a pointer!\n");
    if (sizeof(ee_u32) != 4)
        ee_printf("ERROR! Please define ee_u32 to a 32b unsigned type!\n");
    p->portable_id = 1;
}

void portable_fini(core_portable *p) { p->portable_id = 0; }
