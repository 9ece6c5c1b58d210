/* kernel/elf.c - a loader for the statically linked ELF64 executables of
 * tests/user: every PT_LOAD segment becomes anonymous private memory with
 * exactly its permissions (a segment both writable and executable is
 * refused), filled through copy_to_user before it is made read-only or
 * executable; an executable segment's bytes are then made visible to
 * instruction fetch (arch_sync_icache_range). */
#include "kernel/arch.h"
#include "kernel/lib/string.h"
#include "kernel/process.h"
#include "kernel/uaccess.h"
#include "mm/cow.h"

#define EI_NIDENT 16
#define ELFCLASS64 2
#define ELFDATA2LSB 1
#define ET_EXEC 2
#define PT_LOAD 1
#define PF_X 1
#define PF_W 2
#define PF_R 4

typedef struct elf64_ehdr {
    uint8_t e_ident[EI_NIDENT];
    uint16_t e_type, e_machine;
    uint32_t e_version;
    uint64_t e_entry, e_phoff, e_shoff;
    uint32_t e_flags;
    uint16_t e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx;
} elf64_ehdr_t;

typedef struct elf64_phdr {
    uint32_t p_type, p_flags;
    uint64_t p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align;
} elf64_phdr_t;

/* An arch whose instruction fetch is coherent with stores needs nothing. */
__attribute__((weak)) void arch_sync_icache_range(ptr_t start, size_t len)
{
    (void)start;
    (void)len;
}

/* The vm_flags of a segment, or 0 if it cannot be mapped (no R, or W+X). */
static vm_flags segment_flags(uint32_t pf)
{
    if (!(pf & PF_R) || ((pf & PF_W) && (pf & PF_X)))
        return VM_NONE;
    return VM_READ | ((pf & PF_W) ? VM_WRITE : 0) | ((pf & PF_X) ? VM_EXEC : 0);
}

static int load_segment(mm_context_t *mm, const uint8_t *image, size_t size, const elf64_phdr_t *ph)
{
    vm_flags flags = segment_flags(ph->p_flags);
    if (ph->p_memsz == 0)
        return 0; /* an empty segment maps nothing */
    if (flags == VM_NONE || ph->p_filesz > ph->p_memsz)
        return -ENOEXEC;
    if (ph->p_offset > size || ph->p_filesz > size - ph->p_offset)
        return -ENOEXEC;
    ptr_t start = ALIGN_DOWN((ptr_t)ph->p_vaddr, PAGE_SIZE);
    ptr_t end = (ptr_t)ph->p_vaddr + ph->p_memsz;
    if (end < ph->p_vaddr || !uaccess_range_ok(start, end - start))
        return -ENOEXEC;
    size_t npages = (ALIGN_UP(end, PAGE_SIZE) - start) >> PAGE_SHIFT;

    spinlock_acquire(&mm->mm_lock);
    vmap_t *v = mm_map_anonymous_locked(mm, npages, start, VALLOC_EXACT, VM_RW, VMAP_TYPE_PRIVATE);
    spinlock_release(&mm->mm_lock);
    if (IS_ERR(v))
        return (int)PTR_ERR(v);
    int err = copy_to_user((ptr_t)ph->p_vaddr, image + ph->p_offset, ph->p_filesz);
    if (err)
        return err == -EFAULT ? -ENOMEM : err; /* the range is ours: only memory can fail */
    if (flags & VM_EXEC)
        arch_sync_icache_range((ptr_t)ph->p_vaddr, ph->p_filesz);
    if (flags != VM_RW) {
        spinlock_acquire(&mm->mm_lock);
        err = mm_protect_locked(mm, start, npages, flags);
        spinlock_release(&mm->mm_lock);
    }
    return err;
}

int elf_load(mm_context_t *mm, const uint8_t *image, size_t size, ptr_t *entry)
{
    const elf64_ehdr_t *eh = (const elf64_ehdr_t *)image;
    if (size < sizeof(*eh) || memcmp(eh->e_ident, "\177ELF", 4) != 0 || eh->e_ident[4] != ELFCLASS64 ||
        eh->e_ident[5] != ELFDATA2LSB || eh->e_type != ET_EXEC || eh->e_machine != arch_elf_machine ||
        eh->e_phentsize != sizeof(elf64_phdr_t) || eh->e_phoff > size ||
        (size_t)eh->e_phnum * sizeof(elf64_phdr_t) > size - eh->e_phoff)
        return -ENOEXEC;
    bool entry_mapped = false;
    for (uint16_t i = 0; i < eh->e_phnum; i++) {
        elf64_phdr_t ph;
        memcpy(&ph, image + eh->e_phoff + i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_LOAD)
            continue;
        int err = load_segment(mm, image, size, &ph);
        if (err)
            return err;
        if ((ph.p_flags & PF_X) && eh->e_entry >= ph.p_vaddr && eh->e_entry - ph.p_vaddr < ph.p_memsz)
            entry_mapped = true;
    }
    if (!entry_mapped)
        return -ENOEXEC;
    *entry = (ptr_t)eh->e_entry;
    return 0;
}
