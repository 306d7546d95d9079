/* Rules: SDIV/UDIV 2-12 cycles with early termination (M4 TRM; timed from the operands), SMLAD and MUL 1 cycle (M4 TRM
 * Table 3-1), MUL result latency 1 extra cycle and no paired multiplies (M7 measurements),
 * IT 1 cycle and IT-block instructions whose condition fails still take a cycle. */
#include "mb_common.h"

FUNC mb_sdiv                   /* 4 x 7 */
    movs r3, #100
    movs r12, #3
    LOOP
    sdiv r2, r3, r12
    sdiv r2, r3, r12
    sdiv r2, r3, r12
    sdiv r2, r3, r12
    ENDLOOP
ENDFUNC mb_sdiv

FUNC mb_udiv_wide              /* 4 x 12: 0xFFFFFFFF / 3 has 31 quotient bits */
    mvn r3, #0
    movs r12, #3
    LOOP
    udiv r2, r3, r12
    udiv r2, r3, r12
    udiv r2, r3, r12
    udiv r2, r3, r12
    ENDLOOP
ENDFUNC mb_udiv_wide

FUNC mb_mac_chain              /* 4 MACs on one accumulator (M7: accumulator forwarding) */
    LOOP
    smlad r2, r3, r12, r2
    smlad r2, r3, r12, r2
    smlad r2, r3, r12, r2
    smlad r2, r3, r12, r2
    ENDLOOP
ENDFUNC mb_mac_chain

FUNC mb_ldr_mac                /* 4 x (ldr; smlad) independent: M7 pairs each load and MAC */
    push {r4-r6}
    LOOP
    ldr r2, [r1]
    smlad r4, r3, r12, r4
    ldr r5, [r1, #4]
    smlad r6, r3, r12, r6
    ldr r2, [r1, #8]
    smlad r4, r3, r12, r4
    ldr r5, [r1, #12]
    smlad r6, r3, r12, r6
    ENDLOOP
    pop {r4-r6}
ENDFUNC mb_ldr_mac

FUNC mb_smlad                  /* 8 x 1, two accumulators */
    LOOP
    .rept 4
    smlad r2, r3, r12, r2
    smlad r1, r3, r12, r1
    .endr
    ENDLOOP
ENDFUNC mb_smlad

FUNC mb_mul_use                /* (1 + 1) x 4 on M4; result latency on M7 */
    LOOP
    .rept 4
    mul r2, r3, r12
    adds r1, r2, #1
    .endr
    ENDLOOP
ENDFUNC mb_mul_use

FUNC mb_it                     /* cmp 1, ite 1, moveq 1, movne (condition fails) 1 */
    LOOP
    cmp r0, r0
    ite eq
    moveq r2, #1
    movne r2, #2
    ENDLOOP
ENDFUNC mb_it
