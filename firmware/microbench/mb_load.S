/* Rules (M4 TRM 3.3.2): LDR 2 cycles; a load right after a load pipelines (1) unless the
 * earlier result is its address; an address register written by the previous instruction
 * stalls 1; a load result used as data by the next instruction does not stall; a literal
 * load (LDR Rx,[PC,#imm]) adds a cycle.  M7: loads from different banks pair. */
#include "mb_common.h"

FUNC mb_ldr_pipelined          /* 2 + 1 + 1 + 1 */
    LOOP
    ldr r2, [r1]
    ldr r3, [r1, #4]
    ldr r12, [r1, #8]
    ldr r2, [r1, #12]
    ENDLOOP
ENDFUNC mb_ldr_pipelined

FUNC mb_ldr_chain              /* pointer chase: 2 + 3 + 3 + 3 */
    LOOP
    ldr r1, [r1]
    ldr r1, [r1]
    ldr r1, [r1]
    ldr r1, [r1]
    ENDLOOP
ENDFUNC mb_ldr_chain

FUNC mb_ldr_use                /* (2 + 1) x 2: load then use as data */
    LOOP
    ldr r2, [r1]
    adds r3, r2, r2
    ldr r2, [r1, #4]
    adds r3, r2, r2
    ENDLOOP
ENDFUNC mb_ldr_use

FUNC mb_agu_stall              /* (1 + 2 + 1) x 2: base written by the previous instruction */
    LOOP
    adds r1, r1, #0
    ldr r2, [r1]
    adds r1, r1, #0
    ldr r2, [r1]
    ENDLOOP
ENDFUNC mb_agu_stall

FUNC mb_ldr_literal            /* (2 + 1) + 1 */
    LOOP
    ldr r2, .Llit
    adds r3, r3, #1
    ENDLOOP
    bx lr
    .balign 4
.Llit:
    .word 0x12345678
    .size mb_ldr_literal, . - mb_ldr_literal
