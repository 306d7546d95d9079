@ A Flash program that stores to every word of a RAM range while its own loop runs from Flash:
@ the regression program for code re-translated on data stores (Unicorn RAM-offset aliasing).
    .syntax unified
    .thumb
    .text

@ void touch_words(uint32_t *lo, uint32_t *hi, uint32_t passes): rewrite every word of
@ [lo, hi) with the value it holds, ``passes`` times.  Memory is unchanged (stack paint and
@ red zones survive) but every word takes a store.  Uses no stack.
    .global touch_words
    .type touch_words, %function
    .align 2
touch_words:
    cbz r2, 3f
1:  mov r3, r0
    cmp r3, r1
    bhs 2f
4:  ldr r12, [r3]
    str r12, [r3], #4
    cmp r3, r1
    blo 4b
2:  subs r2, #1
    bne 1b
3:  bx lr
    .size touch_words, . - touch_words

@ void poke_words(uint32_t *a, uint32_t va, uint32_t *b, uint32_t vb): *a = va, then
@ *b = vb (two stores from the firmware, for the test that stores into code are seen).
    .global poke_words
    .type poke_words, %function
    .align 2
poke_words:
    str r1, [r0]
    str r3, [r2]
    bx lr
    .size poke_words, . - poke_words
