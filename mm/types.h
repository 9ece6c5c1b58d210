/* mm/types.h - the vocabulary shared by the generic layer, the HAL and callers.
 *
 * Names follow MOS's paging module (ptr_t, pfn_t, vm_flags, vmap_type_t,
 * vmap_content_t) so code written against it ports unchanged. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uintptr_t ptr_t; /* a virtual address */
typedef uint64_t pfn_t;  /* a physical frame number (physical address >> PAGE_SHIFT) */

#define PAGE_SHIFT 12
#define PAGE_SIZE ((ptr_t)1 << PAGE_SHIFT)
#define PAGE_MASK (PAGE_SIZE - 1)

typedef enum vm_flags {
    VM_NONE = 0,
    VM_READ = 1u << 0,
    VM_WRITE = 1u << 1,
    VM_EXEC = 1u << 2,
    VM_USER = 1u << 3,
    VM_WRITE_THROUGH = 1u << 4,
    VM_CACHE_DISABLED = 1u << 5,
    VM_GLOBAL = 1u << 6,

    VM_RW = VM_READ | VM_WRITE,
    VM_RX = VM_READ | VM_EXEC,
    VM_RWX = VM_READ | VM_WRITE | VM_EXEC,
    VM_USER_RO = VM_USER | VM_READ,
    VM_USER_RW = VM_USER | VM_RW,
    VM_USER_RX = VM_USER | VM_RX,
    VM_USER_RWX = VM_USER | VM_RWX,
} vm_flags;

#define VM_ALL_FLAGS (VM_READ | VM_WRITE | VM_EXEC | VM_USER | VM_WRITE_THROUGH | VM_CACHE_DISABLED | VM_GLOBAL)

/* Error numbers (Linux values), returned negated: 0 or -errno. */
#define EPERM 1
#define ENOENT 2
#define EFAULT 14
#define EBUSY 16
#define EEXIST 17
#define EINVAL 22
#define ENOMEM 12
#define ERANGE 34
#define ENOTSUP 95
#define EOVERFLOW 75

/* Pointers that carry an error: ERR_PTR(-ENOMEM), IS_ERR(p), PTR_ERR(p). */
#define MAX_ERRNO 4095
static inline void *ERR_PTR(long err) { return (void *)(uintptr_t)err; }
static inline long PTR_ERR(const void *p) { return (long)(intptr_t)p; }
static inline bool IS_ERR(const void *p) { return (uintptr_t)p >= (uintptr_t)-MAX_ERRNO; }
static inline bool IS_ERR_OR_NULL(const void *p) { return !p || IS_ERR(p); }

#define ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
