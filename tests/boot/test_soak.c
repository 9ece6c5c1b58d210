/* tests/boot/test_soak.c - thousands of random operations on several
 * contexts on the real MMU, checked against a small model: every read
 * through the MMU returns what the model says, every refused write is one
 * the model refuses, and the invariant checker passes on the real tables. */
#include "mm/check.h"
#include "mm/cow.h"
#include "tests/boot/boot_test.h"

enum { SLOTS = 4, REGIONS = 6, PAGES = 12, GROUPS = SLOTS * REGIONS * 4, OPS = 4000 };
#define REGION_VA(r) ((ptr_t)0x20000000 + (ptr_t)(r) * 0x100000)

typedef struct region {
    bool used, shared, writable;
    int group;               /* shared: the model bytes live in groups[group] */
    uint8_t bytes[PAGES];    /* private: byte 0 of each page */
} region_t;

static struct {
    mm_context_t *ctx[SLOTS];
    region_t reg[SLOTS][REGIONS];
    uint8_t groups[GROUPS][PAGES];
    int ngroups;
    uint32_t rng;
} m;

static uint32_t rnd(uint32_t n)
{
    m.rng = m.rng * 1664525u + 1013904223u;
    return (m.rng >> 8) % n;
}

static uint8_t *model_byte(int s, int r, int page)
{
    region_t *g = &m.reg[s][r];
    return g->shared ? &m.groups[g->group][page] : &g->bytes[page];
}

static int mmu_read(mm_context_t *ctx, ptr_t va)
{
    kernel_switch_context(ctx);
    uint8_t b;
    return bt_read(va, true, &b) == 0 ? b : -1;
}

static bool mmu_write(mm_context_t *ctx, ptr_t va, uint8_t v)
{
    kernel_switch_context(ctx);
    return bt_write(va, true, v) == 0;
}

KTEST(soak_random_operations_match_the_model)
{
    kernel_switch_context(mm_kernel_context());
    size_t start = pmm_free_frames();
    m.rng = 20261124;
    m.ngroups = 0;
    for (int s = 0; s < SLOTS; s++) {
        m.ctx[s] = NULL;
        for (int r = 0; r < REGIONS; r++)
            m.reg[s][r].used = false;
    }
    size_t checks = 0, counts[9] = { 0 };
    for (int op = 0; op < OPS; op++) {
        int s = (int)rnd(SLOTS), r = (int)rnd(REGIONS), page = (int)rnd(PAGES);
        mm_context_t *ctx = m.ctx[s];
        region_t *g = &m.reg[s][r];
        ptr_t va = REGION_VA(r) + (ptr_t)page * PAGE_SIZE;
        unsigned kind = rnd(9);
        if (!ctx)
            kind = 0;
        counts[kind]++;
        switch (kind) {
        case 0: /* create a context, or destroy one */
            if (!ctx) {
                m.ctx[s] = mm_create_context();
                KT_ASSERT(t, !IS_ERR(m.ctx[s]), "create context: %ld", PTR_ERR(m.ctx[s]));
            } else {
                if (kernel_current_context() == ctx)
                    kernel_switch_context(mm_kernel_context());
                mm_destroy_context(ctx);
                m.ctx[s] = NULL;
                for (int i = 0; i < REGIONS; i++)
                    m.reg[s][i].used = false;
            }
            break;
        case 1: /* map a region */
            if (!g->used && m.ngroups < GROUPS) {
                bool shared = rnd(3) == 0;
                spinlock_acquire(&ctx->mm_lock);
                vmap_t *v = mm_map_anonymous_locked(ctx, PAGES, REGION_VA(r), VALLOC_EXACT, VM_RW,
                                                    shared ? VMAP_TYPE_SHARED : VMAP_TYPE_PRIVATE);
                spinlock_release(&ctx->mm_lock);
                KT_ASSERT(t, !IS_ERR(v), "map: %ld", PTR_ERR(v));
                *g = (region_t){ .used = true, .shared = shared, .writable = true, .group = shared ? m.ngroups++ : -1 };
                if (shared)
                    memset(m.groups[g->group], 0, PAGES);
            }
            break;
        case 2: /* unmap a region */
            if (g->used) {
                KT_ASSERT(t, bt_unmap_user(ctx, REGION_VA(r), PAGES) == 0, "unmap");
                g->used = false;
            }
            break;
        case 3:
        case 4: { /* write */
            uint8_t v = (uint8_t)rnd(256);
            bool ok = mmu_write(ctx, va, v);
            bool expect = g->used && g->writable;
            checks++;
            KT_ASSERT(t, ok == expect, "op %d: write slot %d region %d page %d: %d, model says %d", op, s, r, page, ok,
                      expect);
            if (ok)
                *model_byte(s, r, page) = v;
            break;
        }
        case 5:
        case 6: { /* read */
            int got = mmu_read(ctx, va);
            int want = g->used ? *model_byte(s, r, page) : -1;
            checks++;
            KT_ASSERT(t, got == want, "op %d: read slot %d region %d page %d: %d, model says %d", op, s, r, page, got,
                      want);
            break;
        }
        case 7: { /* fork into an empty slot */
            int d = -1;
            for (int i = 0; i < SLOTS; i++)
                if (!m.ctx[i])
                    d = i;
            if (d < 0)
                break;
            mm_context_t *c = mm_clone_context(ctx);
            KT_ASSERT(t, !IS_ERR(c), "fork: %ld", PTR_ERR(c));
            m.ctx[d] = c;
            for (int i = 0; i < REGIONS; i++)
                m.reg[d][i] = m.reg[s][i];
            break;
        }
        case 8: /* protect a region read-only or read-write */
            if (g->used) {
                bool w = rnd(2);
                spinlock_acquire(&ctx->mm_lock);
                int err = mm_protect_locked(ctx, REGION_VA(r), PAGES, w ? VM_RW : VM_READ);
                spinlock_release(&ctx->mm_lock);
                KT_ASSERT(t, err == 0, "protect: %d", err);
                g->writable = w;
            }
            break;
        }
        if (op % 200 == 199) {
            mm_check_report_t rep;
            int err = mm_check_invariants(&rep);
            checks += rep.checks;
            KT_ASSERT(t, err == 0, "op %d: invariants: %d, %zu violations, first: %s", op, err, rep.violations, rep.first);
        }
    }
    kernel_switch_context(mm_kernel_context());
    for (int s = 0; s < SLOTS; s++)
        if (m.ctx[s])
            mm_destroy_context(m.ctx[s]);
    printk("# soak: %d operations, %zu checks (creates/destroys %zu, maps %zu, unmaps %zu, writes %zu, reads %zu, "
           "forks %zu, protects %zu)\n",
           OPS, checks, counts[0], counts[1], counts[2], counts[3] + counts[4], counts[5] + counts[6], counts[7],
           counts[8]);
    KT_EXPECT(t, pmm_free_frames() == start, "free frames %zu, started at %zu", pmm_free_frames(), start);
}
