/**
 * @file syscalls.c
 * @brief Minimal newlib system calls for images run under mcusim.
 *
 * `printf` and friends write into `mcusim_stdout`, a buffer the host reads after a run
 * (`Machine.stdout()`); the heap is the `.heap` section of the generated linker script.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>

#define MCUSIM_STDOUT_BYTES 4096

char mcusim_stdout[MCUSIM_STDOUT_BYTES];
volatile uint32_t mcusim_stdout_len;

extern char __mcusim_heap_start, __mcusim_heap_end;
static char *heap_top = &__mcusim_heap_start;

void *_sbrk(int incr)
{
    char *prev = heap_top;
    if (heap_top + incr > &__mcusim_heap_end || heap_top + incr < &__mcusim_heap_start) {
        errno = ENOMEM;
        return (void *)-1;
    }
    heap_top += incr;
    return prev;
}

int _write(int fd, const char *buf, int len)
{
    (void)fd;
    for (int i = 0; i < len; i++) {
        if (mcusim_stdout_len < MCUSIM_STDOUT_BYTES) {
            mcusim_stdout[mcusim_stdout_len++] = buf[i];
        }
    }
    return len;
}

int _read(int fd, char *buf, int len) { (void)fd; (void)buf; (void)len; return 0; }
int _close(int fd) { (void)fd; return -1; }
int _lseek(int fd, int off, int whence) { (void)fd; (void)off; (void)whence; return 0; }
int _isatty(int fd) { (void)fd; return 1; }
int _fstat(int fd, struct stat *st) { (void)fd; st->st_mode = S_IFCHR; return 0; }
int _getpid(void) { return 1; }
int _kill(int pid, int sig) { (void)pid; (void)sig; errno = EINVAL; return -1; }
