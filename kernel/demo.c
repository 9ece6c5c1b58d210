/* kernel/demo.c - what `scripts/run.sh` shows: the kernel address space as a
 * ptdump, frame statistics, a guided walk through the paging API (create a
 * context, map, clone, fault, unmap) and through copy-on-write and fork, with
 * the counters before and after. */
#include "kernel/arch.h"
#include "kernel/fault.h"
#include "kernel/kernel.h"
#include "kernel/lib/string.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "kernel/ptwalk.h"
#include "mm/cow.h"
#include "mm/paging.h"

#define DEMO_VADDR ((ptr_t)0x40000000)
#define DEMO_PAGES 4

void kernel_print_counts(const char *label)
{
    pmm_stats_t ps;
    mm_stats_t ms;
    pmm_get_stats(&ps);
    mm_get_stats(&ms);
    printk("[%s] frames free %zu / managed %zu; page tables %zu, contexts %zu, vmaps %zu, object pages %zu\n", label,
           ps.free_frames, ps.managed_frames, ms.table_pages, ms.contexts, ms.vmaps, ms.object_pages);
}

static void demo_ptdump(void)
{
    const hal_geometry_t *g = kernel_geometry;
    mm_context_t *k = mm_kernel_context();
    pt_dump_stats_t st;
    printk("\n== kernel address space (%s, root frame %llx): [%016lx, top]\n", g->name, (unsigned long long)k->pgd,
           (unsigned long)hal_kernel_start(g));
    printk("%-33s %7s  %-15s  %-8s  %s\n", "virtual range", "size", "physical", "flags", "pages");
    pt_dump(k->pgd, g, hal_kernel_start(g), ~(ptr_t)0, &st);
    printk("flags: r/w/x, k(ernel)/u(ser), g(lobal), c(ache disabled), t (write-through)\n");
    printk("%zu ranges; leaves: %zu x 4K, %zu x 2M, %zu x 1G; writable+executable leaves: %zu\n", st.ranges,
           st.leaves[1], st.leaves[2], st.leaves[3], st.writable_exec);
}

static void demo_frames(void)
{
    pmm_stats_t ps;
    pmm_get_stats(&ps);
    printk("\n== frames\n");
    printk("  span pfn %llx-%llx, managed %zu (%zu MiB), free %zu (%zu MiB), reserved in span %zu, frame array %zu\n",
           (unsigned long long)ps.base_pfn, (unsigned long long)ps.end_pfn, ps.managed_frames,
           ps.managed_frames >> 8, ps.free_frames, ps.free_frames >> 8, ps.reserved_frames, ps.array_frames);
}

static void show_byte(const char *what, ptr_t va)
{
    uint8_t b = 0;
    int rc = arch_probe_user_read((const volatile void *)va, &b);
    if (rc == 0)
        printk("  %s: read %016lx -> '%c'\n", what, (unsigned long)va, b);
    else
        printk("  %s: read %016lx -> fault (%d)\n", what, (unsigned long)va, rc);
}

static void demo_walk(void)
{
    mm_context_t *k = mm_kernel_context();
    printk("\n== guided walk through the paging API\n");
    kernel_print_counts("start");

    mm_context_t *a = mm_create_context();
    if (IS_ERR(a))
        panic("mm_create_context: %ld", PTR_ERR(a));
    kernel_print_counts("1. mm_create_context -> A");

    pfn_t pfn = pmm_alloc_order(2);
    if (pfn == PMM_NO_FRAME)
        panic("no 4 contiguous frames");
    memset(pfn_va(pfn), 'A', DEMO_PAGES * PAGE_SIZE);
    vmap_t *v = mm_map_user_pages(a, DEMO_VADDR, pfn, DEMO_PAGES, VM_USER_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_MMAP);
    if (IS_ERR(v))
        panic("mm_map_user_pages: %ld", PTR_ERR(v));
    printk("  mapped %d pages at %016lx -> frames %llx.. (filled with 'A' through the direct map), refcount %u\n",
           DEMO_PAGES, (unsigned long)v->vaddr, (unsigned long long)pfn, pmm_refcount(pfn));
    kernel_print_counts("2. mm_map_user_pages in A");
    printk("  A's user half:\n");
    pt_dump(a->pgd, kernel_geometry, 0, hal_user_end(kernel_geometry) - 1, NULL);
    kernel_switch_context(a);
    show_byte("in A", DEMO_VADDR);

    mm_context_t *b = mm_create_context();
    if (IS_ERR(b))
        panic("mm_create_context: %ld", PTR_ERR(b));
    mm_lock_ctx_pair(a, b);
    vmap_t *vb = mm_clone_vmap_locked(v, b);
    mm_unlock_ctx_pair(a, b);
    if (IS_ERR(vb))
        panic("mm_clone_vmap_locked: %ld", PTR_ERR(vb));
    printk("  cloned into B: refcount of the first frame now %u; B's user half:\n", pmm_refcount(pfn));
    pt_dump(b->pgd, kernel_geometry, 0, hal_user_end(kernel_geometry) - 1, NULL);
    kernel_print_counts("3. mm_create_context -> B, mm_clone_vmap_locked A -> B");
    kernel_switch_context(b);
    show_byte("in B", DEMO_VADDR);

    spinlock_acquire(&b->mm_lock);
    mm_flag_pages_locked(b, DEMO_VADDR, 1, VM_USER_RO);
    spinlock_release(&b->mm_lock);
    printk("  B's first page made read-only; a kernel write through the copy helper:\n");
    kernel_fault_verbose = true;
    int rc = arch_probe_user_write((volatile void *)DEMO_VADDR, 'B');
    kernel_fault_verbose = false;
    printk("  arch_probe_user_write -> %d (page faults so far %zu, fixups %zu)\n", rc, kernel_fault_stats.page_faults,
           kernel_fault_stats.fixups);
    kernel_print_counts("4. fault on a read-only page");

    spinlock_acquire(&b->mm_lock);
    int err = mm_unmap_user_pages_locked(b, DEMO_VADDR, DEMO_PAGES);
    spinlock_release(&b->mm_lock);
    printk("  mm_unmap_user_pages_locked(B) -> %d, refcount of the first frame %u\n", err, pmm_refcount(pfn));
    printk("  B's user half after the unmap (empty):\n");
    pt_dump(b->pgd, kernel_geometry, 0, hal_user_end(kernel_geometry) - 1, NULL);
    show_byte("in B after unmap", DEMO_VADDR);
    kernel_print_counts("5. unmap in B");

    kernel_switch_context(k);
    mm_destroy_context(b);
    mm_destroy_context(a);
    kernel_print_counts("6. both contexts destroyed");
}

static void print_cow(const char *label)
{
    cow_stats_t c;
    cow_get_stats(&c);
    printk("[%s] zero-page maps %zu, zero fills %zu, copies %zu, reuses %zu; frames free %zu\n", label, c.zero_maps,
           c.zero_fills, c.copies, c.reuses, pmm_free_frames());
}

/* Zero-on-demand and copy-on-write: an anonymous vmap filled by faults, a
 * fork that copies nothing, a child write that copies one page. */
static void demo_cow(void)
{
    mm_context_t *k = mm_kernel_context();
    printk("\n== copy-on-write and fork\n");
    print_cow("start");
    mm_context_t *p = mm_create_context();
    if (IS_ERR(p))
        panic("mm_create_context: %ld", PTR_ERR(p));
    spinlock_acquire(&p->mm_lock);
    vmap_t *v = mm_map_anonymous_locked(p, 16, DEMO_VADDR, VALLOC_EXACT, VM_RW, VMAP_TYPE_PRIVATE);
    spinlock_release(&p->mm_lock);
    if (IS_ERR(v))
        panic("mm_map_anonymous_locked: %ld", PTR_ERR(v));
    kernel_switch_context(p);
    for (size_t i = 0; i < 16; i++)
        arch_probe_user_write((volatile void *)(DEMO_VADDR + i * PAGE_SIZE), (uint8_t)('a' + i));
    print_cow("1. 16 anonymous pages written in P (each write a fault)");
    mm_context_t *c = mm_clone_context(p);
    if (IS_ERR(c))
        panic("mm_clone_context: %ld", PTR_ERR(c));
    print_cow("2. fork P -> C (frames shared read-only)");
    kernel_switch_context(c);
    arch_probe_user_write((volatile void *)DEMO_VADDR, 'Z');
    print_cow("3. C writes its first page (one copy)");
    show_byte("in C", DEMO_VADDR);
    kernel_switch_context(p);
    show_byte("in P", DEMO_VADDR);
    kernel_switch_context(k);
    mm_destroy_context(c);
    kernel_switch_context(p);
    arch_probe_user_write((volatile void *)(DEMO_VADDR + PAGE_SIZE), 'Y');
    print_cow("4. C gone; P writes its second page (no longer shared: reused, no copy)");
    kernel_switch_context(k);
    mm_destroy_context(p);
    print_cow("5. P destroyed");
}

void kernel_demo(void)
{
    demo_ptdump();
    demo_frames();
    demo_walk();
    demo_cow();
}
