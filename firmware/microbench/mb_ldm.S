/* Rule: LDM takes 1 + N cycles on the M4 (TRM Table 3-1), about ceil(N/2) on the M7.
 * mb_ldm<N> loads N registers (r2..r(N+1)) once per iteration. */
#include "mb_common.h"

FUNC mb_ldm1
    push {r4-r9}
    LOOP
    ldm.w r1, {r2}
    ENDLOOP
    pop {r4-r9}
ENDFUNC mb_ldm1

FUNC mb_ldm2
    push {r4-r9}
    LOOP
    ldm.w r1, {r2-r3}
    ENDLOOP
    pop {r4-r9}
ENDFUNC mb_ldm2

FUNC mb_ldm3
    push {r4-r9}
    LOOP
    ldm.w r1, {r2-r4}
    ENDLOOP
    pop {r4-r9}
ENDFUNC mb_ldm3

FUNC mb_ldm4
    push {r4-r9}
    LOOP
    ldm.w r1, {r2-r5}
    ENDLOOP
    pop {r4-r9}
ENDFUNC mb_ldm4

FUNC mb_ldm5
    push {r4-r9}
    LOOP
    ldm.w r1, {r2-r6}
    ENDLOOP
    pop {r4-r9}
ENDFUNC mb_ldm5

FUNC mb_ldm6
    push {r4-r9}
    LOOP
    ldm.w r1, {r2-r7}
    ENDLOOP
    pop {r4-r9}
ENDFUNC mb_ldm6

FUNC mb_ldm7
    push {r4-r9}
    LOOP
    ldm.w r1, {r2-r8}
    ENDLOOP
    pop {r4-r9}
ENDFUNC mb_ldm7

FUNC mb_ldm8
    push {r4-r9}
    LOOP
    ldm.w r1, {r2-r9}
    ENDLOOP
    pop {r4-r9}
ENDFUNC mb_ldm8
