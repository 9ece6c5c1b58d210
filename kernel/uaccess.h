/* kernel/uaccess.h - the only way the kernel touches user memory: range
 * checks, then the arch copy helper (exception table, STAC/SUM for the copy
 * alone). Copies act on the active context (kernel_current_context). */
#pragma once

#include "mm/mm.h"

/* True if [uaddr, +len) lies in the user half of the active geometry
 * without wrapping (len 0: uaddr itself must be a user address). */
bool uaccess_range_ok(ptr_t uaddr, size_t len);

/* Copies len bytes from user address usrc to dst. 0, or -EFAULT when the
 * range is not a user range, a page of it is outside every readable vmap,
 * or an access faulted anyway (dst then holds a prefix). No lock held. */
int copy_from_user(void *dst, ptr_t usrc, size_t len);

/* Copies len bytes from src to user address udst, breaking copy-on-write
 * like a user write. 0, or -EFAULT when the range is not a user range or a
 * page of it is outside every writable vmap (then nothing is written); a
 * fault during the copy itself (memory ran out) also gives -EFAULT. */
int copy_to_user(ptr_t udst, const void *src, size_t len);
