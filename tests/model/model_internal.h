/* tests/model/model_internal.h - the reference model shared by the files of
 * the tester: contexts, vmaps, pages, frames and shared objects as plain
 * arrays, and the comparison helpers. */
#pragma once

#include <stdio.h>

#include "hal/host/kmm_host.h"
#include "model.h"
#include "mm/check.h"
#include "mm/cow.h"
#include "mm/shm.h"

#define MAX_CTX 4
#define MAX_VMAPS 40          /* per context */
#define MAX_CTX_PAGES 768     /* vmap pages per context */
#define ARENA_PAGES 192
#define NARENAS 4
#define KAREA_PAGES 1024      /* kernel-half test area: two 2 MiB blocks */
#define VALUE_SALT 0x5a5a0f0f3c3cc3c3ull

typedef enum { H_NONE, H_COW, H_SHM } mhandler_t;

/* A frame as the model sees it: what it holds and who holds it. pfn is
 * learned at the first observation and must stay the same while it lives. */
typedef struct mframe {
    bool live;
    uint64_t value;   /* word 0 of the page; the last word is value ^ SALT (0 for 0) */
    uint32_t holders; /* mappings + the object holding it (+1 permanent for the zero page) */
    pfn_t pfn;        /* PMM_NO_FRAME until observed */
} mframe_t;

typedef struct mpage {
    int32_t frame;    /* -1: nothing mapped */
    vm_flags pte;     /* R/W/X/U of the entry */
} mpage_t;

typedef struct mobj {
    bool live;
    uint32_t refs;    /* vmaps */
    size_t npages;
    int32_t *frames;  /* -1: untouched */
    const shm_object_t *real;
} mobj_t;

typedef struct mvmap {
    ptr_t va;
    size_t npages;
    vm_flags flags;
    vmap_type_t type;
    mhandler_t handler;
    int32_t obj;      /* -1 or an index into objs */
    size_t objoff;
    mpage_t *pages;
} mvmap_t;

typedef struct mctx {
    bool live;
    mm_context_t *real;
    mvmap_t v[MAX_VMAPS]; /* sorted by va */
    size_t nv;
} mctx_t;

typedef struct kpage {
    pfn_t pfn;        /* PMM_NO_FRAME: unmapped */
    vm_flags flags;
} kpage_t;

typedef struct run {
    const model_config_t *cfg;
    model_source_t *src;
    model_result_t *res;
    size_t step;
    bool stop;        /* a violation was found */
    const char *op;   /* name of the running operation */
    mctx_t ctx[MAX_CTX];
    mframe_t *frames;
    size_t nframes, capframes;
    mobj_t *objs;
    size_t nobjs, capobjs;
    int32_t *rev;     /* pfn - base -> frame index bound to it, -1 */
    pfn_t base_pfn, end_pfn;
    ptr_t arena[NARENAS];
    ptr_t karea;
    kpage_t kpages[KAREA_PAGES];
    bool armed;       /* an injected failure is armed for this op */
    /* what the step touched, checked after it */
    struct { int c; ptr_t va; size_t n; } touched[4];
    size_t ntouched;
    bool touched_all, touched_kernel;
} run_t;

/* ---- model.c: the model and the comparisons ---- */
void violation(run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define EXPECT(r, cond, ...)                                                                                            \
    do {                                                                                                               \
        (r)->res->checks++;                                                                                            \
        if (!(cond))                                                                                                   \
            violation((r), __VA_ARGS__);                                                                               \
    } while (0)

int32_t frame_new(run_t *r, uint64_t value, pfn_t pfn);
void page_map(run_t *r, mpage_t *p, int32_t frame, vm_flags pte);
void page_clear(run_t *r, mpage_t *p);
int32_t obj_new(run_t *r, size_t npages);
void obj_put(run_t *r, int32_t o);
mvmap_t *vmap_insert(run_t *r, mctx_t *c, ptr_t va, size_t npages);
void vmap_remove(run_t *r, mctx_t *c, mvmap_t *v);
mvmap_t *vmap_find(mctx_t *c, ptr_t va);
void vmap_split_at(run_t *r, mctx_t *c, mvmap_t *v, size_t k);
size_t ctx_pages(const mctx_t *c);
bool find_free(const mctx_t *c, size_t n, ptr_t base, ptr_t *at);
void touch(run_t *r, int c, ptr_t va, size_t n);

void check_step(run_t *r);
void check_full(run_t *r);

/* ---- ops.c ---- */
uint32_t pick(run_t *r, uint32_t n);
void run_one_op(run_t *r);
