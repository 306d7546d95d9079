@ Small programs with a known block structure for the native counting tests.
    .syntax unified
    .thumb
    .text

@ uint32_t count_odd(uint32_t n): how many of 0..n-1 are odd, with an IT-ELSE block whose
@ instructions alternate between passing and failing their condition.
    .global count_odd
    .type count_odd, %function
    .align 2
count_odd:
    movs r1, #0
    movs r2, #0
1:  tst r2, #1
    ite ne
    addne r1, r1, #1
    subeq r1, r1, #0
    adds r2, #1
    cmp r2, r0
    blt 1b
    mov r0, r1
    bx lr
    .size count_odd, . - count_odd

@ uint32_t sum_words(const uint32_t *p, uint32_t n): a plain loop over memory.
    .global sum_words
    .type sum_words, %function
    .align 2
sum_words:
    movs r2, #0
    cbz r1, 3f
2:  ldr r3, [r0], #4
    add r2, r2, r3
    subs r1, #1
    bne 2b
3:  mov r0, r2
    bx lr
    .size sum_words, . - sum_words
