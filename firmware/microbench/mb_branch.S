/* Rules (M4 TRM Table 3-1): a branch is 1 cycle not taken, 1 + P taken.  P is 1 for a direct
 * branch and 2 for an indirect one (BX, BLX, POP/LDR PC, TBB/TBH), plus 1 when the target
 * is a 32-bit instruction at an address that is not word aligned (table cortex-m4.toml). */
#include "mb_common.h"

FUNC mb_b_not_taken            /* cmp 1, beq not taken 1, nop 1, nop 1 */
    LOOP
    cmp r0, #0
    beq 2f
    nop
2:  nop
    ENDLOOP
ENDFUNC mb_b_not_taken

FUNC mb_b_aligned16            /* b taken 1+1, target 16-bit aligned: nop 1 */
    LOOP
    b 2f
    nop
    .balign 4
2:  nop
    ENDLOOP
ENDFUNC mb_b_aligned16

FUNC mb_b_unaligned16          /* b taken 1+1, target 16-bit unaligned: nop 1 */
    LOOP
    b 2f
    .balign 4
    nop
2:  nop
    ENDLOOP
ENDFUNC mb_b_unaligned16

FUNC mb_b_aligned32            /* b taken 1+1, target 32-bit aligned: add.w 1 */
    LOOP
    b 2f
    nop
    .balign 4
2:  add.w r2, r2, #1
    ENDLOOP
ENDFUNC mb_b_aligned32

FUNC mb_b_unaligned32          /* b taken 1+1+1, target 32-bit unaligned: add.w 1 */
    LOOP
    b 2f
    .balign 4
    nop
2:  add.w r2, r2, #1
    ENDLOOP
ENDFUNC mb_b_unaligned32

FUNC mb_bx                     /* bx taken 1+2, nop 1 */
    adr r3, 2f
    adds r3, r3, #1
    LOOP
    bx r3
    .balign 4
2:  nop
    ENDLOOP
ENDFUNC mb_bx

FUNC mb_call                   /* bl 1+1, leaf bx lr 1+2 */
    push {r4, lr}
    LOOP
    bl mb_leaf
    ENDLOOP
    pop {r4, pc}
    .size mb_call, . - mb_call

FUNC mb_leaf
    bx lr
    .size mb_leaf, . - mb_leaf

FUNC mb_tbb                    /* tbb 2+2, nop 1 */
    movs r3, #0
    LOOP
    tbb [pc, r3]
.Ltbl:
    .byte (2f - .Ltbl) / 2
    .byte 0
2:  nop
    ENDLOOP
ENDFUNC mb_tbb

FUNC mb_b_alternating          /* beq taken every other iteration (M7 misprediction) */
    LOOP
    tst r0, #1
    beq 2f
    nop
2:  nop
    ENDLOOP
ENDFUNC mb_b_alternating

FUNC mb_b_runs                 /* bhi taken while the counter is above 60, then never:
                                  two long runs of one outcome (one change of direction) */
    LOOP
    cmp r0, #60
    bhi 2f
    nop
2:  nop
    ENDLOOP
ENDFUNC mb_b_runs
