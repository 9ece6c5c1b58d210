/* mm/init.c - bring-up and global statistics: the one file above every
 * other of mm/ (it resets and counts them all), so that none of them
 * depends on another above it. */
#include "mm/internal.h"
#include "mm/pagetable.h"
#include "mm/slab.h"

int mm_init(const mm_boot_info_t *info)
{
    const hal_geometry_t *g = info ? info->geometry : NULL;
    if (!g || g->levels < 3 || g->levels > HAL_MAX_LEVELS || !(g->leaf_levels & 2) || g->va_bits < 32 ||
        g->va_bits <= hal_level_shift(g->levels) || g->va_bits > hal_level_shift(g->levels + 1) ||
        (g->flags & ~HAL_GEOMETRY_KNOWN_FLAGS))
        return -EINVAL;
    hal_codec_select(g);
    static hal_geometry_t in_force;
    in_force = *g;
    if (info->separate_kernel_root)
        in_force.flags |= HAL_GEOMETRY_SEPARATE_KERNEL_ROOT;
    mm_geometry = &in_force;
    /* Start from nothing, also when called again (host tests re-init). */
    mm_contexts_reset();
    vmap_reset();
    pt_reset();
    shm_reset();
    cow_reset();
    slab_reset();
    pmm_set_max_pfn(hal_max_pfn(g));
    int err = pmm_init(info->regions, info->nregions);
    if (err)
        return err;
    return mm_contexts_init();
}

void mm_get_stats(mm_stats_t *out)
{
    *out = (mm_stats_t){
        .table_pages = pt_table_pages_total(),
        .contexts = mm_live_contexts(),
        .vmaps = vmap_live_count(),
        .object_pages = slab_pages_total() + shm_node_pages_total(),
        .shootdowns = pt_shootdowns_total(),
    };
    /* Tables, slab pages and nodes each hold one reference (taken before
     * they are counted, dropped after), as does the zero page: the other
     * referenced frames are user memory. Read last, so that in flight it
     * errs upwards, and never below 0. */
    pmm_stats_t ps;
    pmm_get_stats(&ps);
    size_t others = out->table_pages + out->object_pages + (mm_zero_page() != PMM_NO_FRAME);
    out->user_pages = ps.referenced_frames > others ? ps.referenced_frames - others : 0;
}
