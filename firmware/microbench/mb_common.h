/* Shared macros of the timing microbenchmarks (assembly, Thumb-2).
 *
 * Every benchmark is a function `mb_<rule>(uint32_t iterations, void *buf)`: r0 counts
 * the iterations down, r1 points to a word-aligned scratch buffer of at least 64 bytes
 * whose first word holds its own address (for pointer chasing).  The loop body starts on a
 * word boundary at label 1 and ends with `subs r0, r0, #1; bne 1b` (two 16-bit
 * instructions), so one iteration costs body + 1 + (1 + P) on the Cortex-M4.  The tests run
 * each benchmark with two iteration counts and take the difference, which is exactly the
 * cost of the loop block per iteration. */
.syntax unified
.thumb

.macro FUNC name
    .text
    .global \name
    .type \name, %function
    .balign 4
\name:
.endm

.macro LOOP
    .balign 4
1:
.endm

.macro ENDLOOP
    subs r0, r0, #1
    bne 1b
.endm

.macro ENDFUNC name
    bx lr
    .size \name, . - \name
.endm
