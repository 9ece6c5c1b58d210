/* tests/unit/install/outside.c - a program of another project, built by
 * tests/unit/install/check.sh against the installed kmm-host-<arch> with nothing
 * but `pkg-config --cflags --libs`: the seed's header by the seed's name,
 * the host platform's by its own, and several bring-ups in one process.
 * Usage: outside GEOMETRY. Prints "ok ..." and exits 0, or names the step
 * that failed and exits 1. */
#include <stdio.h>
#include <string.h>

#include "paging.h"   /* the seed's name for the paging API */
#include "cow.h"      /* anonymous memory, fork */
#include "kmm_host.h" /* the host platform */

#define VA ((ptr_t)0x400000)

#define EXPECT(cond, ...)                                                                                              \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "outside: " __VA_ARGS__);                                                                  \
            fputc('\n', stderr);                                                                                       \
            return 1;                                                                                                  \
        }                                                                                                              \
    } while (0)

static int round_trip(const char *geometry, size_t mib)
{
    int err = kmm_host_init(mib, geometry);
    EXPECT(err == 0, "kmm_host_init(%zu, %s): %d", mib, geometry, err);
    EXPECT(kmm_host_phys_size() == (uint64_t)mib << 20, "RAM of %llu bytes", (unsigned long long)kmm_host_phys_size());
    size_t free0 = pmm_free_frames();
    mm_context_t *ctx = mm_create_context();
    EXPECT(!IS_ERR(ctx), "mm_create_context: %ld", PTR_ERR(ctx));
    pfn_t f = pmm_alloc();
    EXPECT(f != PMM_NO_FRAME, "pmm_alloc");
    vmap_t *v = mm_map_user_pages(ctx, VA, f, 1, VM_RW, VALLOC_EXACT, VMAP_TYPE_PRIVATE, VMAP_UNKNOWN);
    EXPECT(!IS_ERR(v), "mm_map_user_pages: %ld", PTR_ERR(v));
    EXPECT(softmmu_write(ctx, VA, "kmm", 4, true) == 0, "write through the tables");
    EXPECT(memcmp(pfn_va(f), "kmm", 4) == 0, "the frame holds what was written");
    spinlock_acquire(&ctx->mm_lock);
    vmap_t *s = mm_map_anonymous_locked(ctx, 4, VA + 16 * PAGE_SIZE, VALLOC_EXACT, VM_RW, VMAP_TYPE_SHARED);
    spinlock_release(&ctx->mm_lock);
    EXPECT(!IS_ERR(s), "shared anonymous map: %ld", PTR_ERR(s));
    mm_context_t *child = mm_clone_context(ctx);
    EXPECT(!IS_ERR(child), "fork: %ld", PTR_ERR(child));
    uint64_t word = 0x5eed;
    EXPECT(softmmu_write(child, VA + 17 * PAGE_SIZE, &word, sizeof word, true) == 0, "child writes the shared page");
    word = 0;
    EXPECT(softmmu_read(ctx, VA + 17 * PAGE_SIZE, &word, sizeof word, true) == 0 && word == 0x5eed,
           "the parent sees the child's write: %#llx", (unsigned long long)word);
    mm_destroy_context(child);
    mm_destroy_context(ctx);
    EXPECT(pmm_free_frames() == free0, "%zu frames left behind", free0 - pmm_free_frames());
    kmm_host_fini();
    EXPECT(kmm_host_phys_size() == 0 && kmm_host_geometry() == NULL, "kmm_host_fini left the instance up");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: outside GEOMETRY\n");
        return 2;
    }
    /* several bring-ups in one process, of different sizes */
    for (size_t mib = 8; mib <= 32; mib *= 2)
        if (round_trip(argv[1], mib))
            return 1;
    printf("ok %s: 3 bring-ups, each torn down\n", argv[1]);
    return 0;
}
