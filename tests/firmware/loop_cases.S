@ One-block loops for the counted-loop tests (tests/test_loops.py): those up to steps_above
@ are counted loops (mcusim/loops.py), the rest are not, each for one of the reasons.
    .syntax unified
    .thumb
    .text

@ uint32_t sum_down(const uint32_t *p, uint32_t n): SUBS/BNE on the count, post-indexed load.
    .global sum_down
    .type sum_down, %function
    .align 2
sum_down:
    movs r2, #0
    nop
1:  ldr r3, [r0], #4
    add r2, r2, r3
    subs r1, #1
    bne 1b
    mov r0, r2
    bx lr
    .size sum_down, . - sum_down

@ uint32_t sum_through(const uint32_t *p, const uint32_t *last): the pointer compared with
@ the last one before its step (the compare sees the value before the update).
    .global sum_through
    .type sum_through, %function
    .align 2
sum_through:
    movs r2, #0
    nop
1:  ldr r3, [r0]
    cmp r0, r1
    add.w r0, r0, #4
    add r2, r2, r3
    bne 1b
    mov r0, r2
    bx lr
    .size sum_through, . - sum_through

@ uint32_t step_down(uint32_t n): n steps of -2 down to 4 (never there when n is odd: the
@ loop does not end within one sweep of its register).
    .global step_down
    .type step_down, %function
    .align 2
step_down:
    movs r1, #0
    nop
1:  adds r1, #3
    subs r0, r0, #2
    cmp r0, #4
    bne 1b
    mov r0, r1
    bx lr
    .size step_down, . - step_down

@ uint32_t sum_pushed(const uint32_t *p, uint32_t n): the block entering the loop lowers SP
@ (the stack check of the entering block happens at the loop's branch).
    .global sum_pushed
    .type sum_pushed, %function
    .align 2
sum_pushed:
    push {r4, lr}
    movs r2, #0
1:  ldr r3, [r0], #4
    add r2, r2, r3
    subs r1, #1
    bne 1b
    mov r0, r2
    pop {r4, pc}
    .size sum_pushed, . - sum_pushed

@ uint32_t sum_below(const uint32_t *p, const uint32_t *end): unsigned, while p < end.
    .global sum_below
    .type sum_below, %function
    .align 2
sum_below:
    movs r2, #0
    nop
1:  ldr r3, [r0], #4
    add r2, r2, r3
    cmp r0, r1
    blo 1b
    mov r0, r2
    bx lr
    .size sum_below, . - sum_below

@ uint32_t sum_back(const uint32_t *last, const uint32_t *first): unsigned, a pointer that
@ goes down while it is >= first.
    .global sum_back
    .type sum_back, %function
    .align 2
sum_back:
    movs r2, #0
    nop
1:  ldr r3, [r0]
    add r2, r2, r3
    sub.w r0, r0, #4
    cmp r0, r1
    bhs 1b
    mov r0, r2
    bx lr
    .size sum_back, . - sum_back

@ uint32_t sum_spilled(const uint32_t *p, uint32_t n): the bound kept in a stack slot and
@ loaded again before each compare (the loop stores nothing, so the slot does not change).
    .global sum_spilled
    .type sum_spilled, %function
    .align 2
sum_spilled:
    push {r4, lr}
    sub sp, #8
    add.w r1, r0, r1, lsl #2
    str r1, [sp]
    movs r2, #0
1:  ldr r3, [r0], #4
    add r2, r2, r3
    ldr r1, [sp]
    cmp r0, r1
    bcc 1b
    mov r0, r2
    add sp, #8
    pop {r4, pc}
    .size sum_spilled, . - sum_spilled

@ int32_t steps_above(int32_t n): signed, SUBS sets the flags of comparing n with 3.
    .global steps_above
    .type steps_above, %function
    .align 2
steps_above:
    movs r1, #0
    nop
1:  adds r1, #1
    subs r0, r0, #3
    bgt 1b
    mov r0, r1
    bx lr
    .size steps_above, . - steps_above

@ Not counted: the bound is loaded from a stack slot, but the loop also stores.
    .global spilled_stored
    .type spilled_stored, %function
    .align 2
spilled_stored:
    push {r4, lr}
    sub sp, #8
    add.w r1, r0, r1, lsl #2
    str r1, [sp]
    movs r2, #0
1:  ldr r3, [r0], #4
    add r2, r2, r3
    str r2, [sp, #4]
    ldr r1, [sp]
    cmp r0, r1
    bcc 1b
    mov r0, r2
    add sp, #8
    pop {r4, pc}
    .size spilled_stored, . - spilled_stored

@ Not counted: ADDS with an ordered condition (its flags are not those of a compare).
    .global adds_ordered
    .type adds_ordered, %function
    .align 2
adds_ordered:
    movs r1, #0
    nop
1:  adds r1, #1
    adds r0, r0, #2
    blt 1b
    mov r0, r1
    bx lr
    .size adds_ordered, . - adds_ordered

@ Not counted: entered after a branch (the loop is a block of its own from its first entry).
    .global after_branch
    .type after_branch, %function
    .align 2
after_branch:
    movs r2, #0
    cbz r1, 2f
1:  ldr r3, [r0], #4
    add r2, r2, r3
    subs r1, #1
    bne 1b
2:  mov r0, r2
    bx lr
    .size after_branch, . - after_branch

@ Not counted: a branch jumps to the loop's start.
    .global jumped_into
    .type jumped_into, %function
    .align 2
jumped_into:
    movs r2, #0
    b 1f
    nop
    nop
1:  ldr r3, [r0], #4
    add r2, r2, r3
    subs r1, #1
    bne 1b
    mov r0, r2
    bx lr
    .size jumped_into, . - jumped_into

@ Not counted: the induction register is written twice.
    .global two_writers
    .type two_writers, %function
    .align 2
two_writers:
    movs r2, #0
    nop
1:  adds r2, #1
    subs r1, #2
    adds r1, #1
    bne 1b
    mov r0, r2
    bx lr
    .size two_writers, . - two_writers

@ Not counted: an IT block in the loop.
    .global with_it
    .type with_it, %function
    .align 2
with_it:
    movs r2, #0
    nop
1:  tst r1, #1
    it ne
    addne r2, #1
    subs r1, #1
    bne 1b
    mov r0, r2
    bx lr
    .size with_it, . - with_it
