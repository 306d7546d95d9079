/* Rules (M4 TRM 7.2.3 FPU timing): VMLA/VFMA 3, VADD/VMUL 1, VDIV/VSQRT 14, VLDM 1 + N.
 * M7: FP arithmetic single issue, VDIV 16, VSQRT 14. */
#include "mb_common.h"

FUNC mb_vmla                   /* 4 x 3 (accumulate chain) */
    LOOP
    vmla.f32 s0, s1, s2
    vmla.f32 s0, s1, s2
    vmla.f32 s0, s1, s2
    vmla.f32 s0, s1, s2
    ENDLOOP
ENDFUNC mb_vmla

FUNC mb_vadd                   /* 4 x 1 */
    LOOP
    vadd.f32 s0, s1, s2
    vadd.f32 s3, s1, s2
    vmul.f32 s4, s1, s2
    vmul.f32 s5, s1, s2
    ENDLOOP
ENDFUNC mb_vadd

FUNC mb_vdiv                   /* 14 + 14 */
    LOOP
    vdiv.f32 s0, s1, s2
    vsqrt.f32 s3, s1
    ENDLOOP
ENDFUNC mb_vdiv

FUNC mb_vldm                   /* 1 + 8 */
    LOOP
    vldm r1, {s0-s7}
    ENDLOOP
ENDFUNC mb_vldm
