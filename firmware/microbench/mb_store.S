/* Rules (M4 TRM 3.3.2): STR with immediate offset is 1 cycle unless it follows a store (2);
 * STR with register offset pipelines (1) only after a load, else 2.  M7: stores never pair. */
#include "mb_common.h"

FUNC mb_str_imm                /* (1 + 1) x 2 */
    LOOP
    str r2, [r1]
    adds r3, r3, #1
    str r2, [r1, #4]
    adds r3, r3, #1
    ENDLOOP
ENDFUNC mb_str_imm

FUNC mb_str_str                /* 1 + 2 + 2 + 2 */
    LOOP
    str r2, [r1]
    str r2, [r1, #4]
    str r2, [r1, #8]
    str r2, [r1, #12]
    ENDLOOP
ENDFUNC mb_str_str

FUNC mb_str_reg                /* ldr 2, str-reg after ldr 1, alu 1, str-reg after alu 2 */
    movs r3, #4
    LOOP
    ldr r12, [r1]
    str r2, [r1, r3]
    add.w r12, r12, #1
    str r2, [r1, r3]
    ENDLOOP
ENDFUNC mb_str_reg
