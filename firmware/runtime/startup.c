/**
 * @file startup.c
 * @brief Reset handler, vector table and exit path shared by every mcusim firmware image.
 *
 * The linker script mcusim generates from the board profile provides the symbols used here:
 * `_sidata` (load address of .data in Flash), `_sdata`/`_edata`, `_sbss`/`_ebss`, and
 * `__mcusim_stack_top`.  The stack sits at the *bottom* of the data region, so an overflow
 * runs into unmapped memory (or the region below) and faults instead of silently corrupting
 * .data/.bss.
 *
 * Exit protocol (read by mcusim's machine): `bkpt #0xAB` with the exit status in r0 means
 * "program finished"; `bkpt #0xF0` means a fault handler was reached.
 */
#include <stdint.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, __mcusim_stack_top;
int main(void);
void Reset_Handler(void);

/* Program exit: stop the emulator (or the debugger, on hardware) with the status in r0. */
__attribute__((noreturn)) void _exit(int status)
{
    register int r0 __asm__("r0") = status;
    for (;;) {
        __asm__ volatile("bkpt #0xAB" : : "r"(r0) : "memory");
    }
}

/* Any exception without a handler of its own ends here. */
void mcusim_fault_handler(void)
{
    for (;;) {
        __asm__ volatile("bkpt #0xF0" : : : "memory");
    }
}

void NMI_Handler(void) __attribute__((weak, alias("mcusim_fault_handler")));
void HardFault_Handler(void) __attribute__((weak, alias("mcusim_fault_handler")));
void MemManage_Handler(void) __attribute__((weak, alias("mcusim_fault_handler")));
void BusFault_Handler(void) __attribute__((weak, alias("mcusim_fault_handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("mcusim_fault_handler")));
void SVC_Handler(void) __attribute__((weak, alias("mcusim_fault_handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("mcusim_fault_handler")));
void PendSV_Handler(void) __attribute__((weak, alias("mcusim_fault_handler")));
void SysTick_Handler(void) __attribute__((weak, alias("mcusim_fault_handler")));

__attribute__((section(".isr_vector"), used)) const void *const mcusim_vectors[16] = {
    &__mcusim_stack_top, (const void *)Reset_Handler, (const void *)NMI_Handler,
    (const void *)HardFault_Handler, (const void *)MemManage_Handler,
    (const void *)BusFault_Handler, (const void *)UsageFault_Handler, 0, 0, 0, 0,
    (const void *)SVC_Handler, (const void *)DebugMon_Handler, 0,
    (const void *)PendSV_Handler, (const void *)SysTick_Handler,
};

/* A firmware built only to have its functions called needs no main of its own. */
__attribute__((weak)) int main(void) { return 0; }

void Reset_Handler(void)
{
    uint32_t *src = &_sidata;
    for (uint32_t *dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0;
    }
#if defined(__ARM_FP)
    /* Enable CP10/CP11 (the FPU) in SCB->CPACR, as CMSIS SystemInit does. */
    *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20);
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    _exit(main());
}
