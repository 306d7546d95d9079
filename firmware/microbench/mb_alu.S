/* Rule: data processing takes 1 cycle (M4 TRM Table 3-1); independent ALU ops dual-issue on
 * the M7.  16 ALU instructions per iteration on four independent registers. */
#include "mb_common.h"

FUNC mb_alu
    LOOP
    .rept 4
    adds r1, r1, #1
    adds r2, r2, #1
    adds r3, r3, #1
    add.w r12, r12, #1
    .endr
    ENDLOOP
ENDFUNC mb_alu
