/* CoreMark port for mcusim (bare-metal Cortex-M4/M7 under emulation).
 *
 * Timing: the DWT cycle counter (CYCCNT), which mcusim serves with the modelled cycles, so
 * CoreMark's own "Total ticks" are the cycle model's count of the timed iterations.
 * Output: newlib printf into mcusim's stdout buffer (firmware/runtime/syscalls.c).
 * Data: one static block (MEM_STATIC) in the board's data region (.bss).
 * Build-time settings (from benchmarks/coremark.py): ITERATIONS, MCUSIM_CLOCK_HZ,
 * FLAGS_STR. */
#ifndef CORE_PORTME_H
#define CORE_PORTME_H

#include <stddef.h>
#include <stdio.h>

#define HAS_FLOAT 0          /* integer-only report: no printf float support needed */
#define HAS_TIME_H 0
#define USE_CLOCK 0
#define HAS_STDIO 1
#define HAS_PRINTF 1

#ifndef COMPILER_VERSION
#ifdef __GNUC__
#define COMPILER_VERSION "GCC" __VERSION__
#else
#define COMPILER_VERSION "unknown"
#endif
#endif
#ifndef FLAGS_STR
#define FLAGS_STR "unknown"
#endif
#define COMPILER_FLAGS FLAGS_STR
#ifndef MEM_LOCATION
#define MEM_LOCATION "STATIC"
#endif

typedef signed short   ee_s16;
typedef unsigned short ee_u16;
typedef signed int     ee_s32;
typedef double         ee_f32;
typedef unsigned char  ee_u8;
typedef unsigned int   ee_u32;
typedef ee_u32         ee_ptr_int;
typedef size_t         ee_size_t;

/* Align an offset to a 32-bit boundary (matrix benchmark inputs). */
#define align_mem(x) (void *)(4 + (((ee_ptr_int)(x)-1) & ~3))

#define CORETIMETYPE ee_u32
typedef ee_u32 CORE_TICKS;

#define SEED_METHOD SEED_VOLATILE
#define MEM_METHOD MEM_STATIC
#define MULTITHREAD 1
#define USE_PTHREAD 0
#define USE_FORK 0
#define USE_SOCKET 0
#define MAIN_HAS_NOARGC 1
#define MAIN_HAS_NORETURN 0

#ifndef PERFORMANCE_RUN
#define PERFORMANCE_RUN 1
#endif

extern ee_u32 default_num_contexts;

typedef struct CORE_PORTABLE_S
{
    ee_u8 portable_id;
} core_portable;

void portable_init(core_portable *p, int *argc, char *argv[]);
void portable_fini(core_portable *p);

#if !defined(PROFILE_RUN) && !defined(PERFORMANCE_RUN) && !defined(VALIDATION_RUN)
#define PERFORMANCE_RUN 1
#endif

#endif /* CORE_PORTME_H */
