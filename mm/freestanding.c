/* mm/freestanding.c - the two C library functions a freestanding build of
 * the generic layer needs (the compiler emits calls to them for structure
 * copies and clears, and the layer clears and copies pages): weak, so a
 * kernel's own memset / memcpy take their place, and a kernel without them
 * needs nothing more. Not compiled on the host (libc's are used there).
 * The empty asm in each loop keeps the compiler from recognising the loop
 * as a call to the function being defined, whatever the flags. */
#include <stddef.h>
#include <stdint.h>

void *memset(void *dst, int c, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);

__attribute__((weak)) void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    if (((uintptr_t)d & 7) == 0) {
        uint64_t w = (uint64_t)(unsigned char)c * 0x0101010101010101ull;
        for (; n >= 8; n -= 8, d += 8) {
            *(uint64_t *)(void *)d = w;
            __asm__ volatile("" ::: "memory");
        }
    }
    for (; n; n--, d++) {
        *d = (unsigned char)c;
        __asm__ volatile("" ::: "memory");
    }
    return dst;
}

__attribute__((weak)) void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if ((((uintptr_t)d | (uintptr_t)s) & 7) == 0) {
        for (; n >= 8; n -= 8, d += 8, s += 8) {
            *(uint64_t *)(void *)d = *(const uint64_t *)(const void *)s;
            __asm__ volatile("" ::: "memory");
        }
    }
    for (; n; n--, d++, s++) {
        *d = *s;
        __asm__ volatile("" ::: "memory");
    }
    return dst;
}
