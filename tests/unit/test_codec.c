/* Entry codec round trips: every flag combination at every level that may
 * hold a leaf, table entries, refusals. */
#include "fixture.h"

TestSuite(codec, .init = fixture_setup);

/* Flags the arch can encode: VM_READ set, the rest any combination. */
static vm_flags combo(unsigned bits)
{
    static const vm_flags opt[] = { VM_WRITE, VM_EXEC, VM_USER, VM_WRITE_THROUGH, VM_CACHE_DISABLED, VM_GLOBAL };
    unsigned f = VM_READ;
    for (unsigned i = 0; i < ARRAY_SIZE(opt); i++)
        if (bits & (1u << i))
            f |= opt[i];
    return (vm_flags)f;
}

Test(codec, leaf_round_trip_every_flag_combination_every_level)
{
    unsigned checked = 0;
    for (unsigned level = 1; level <= G()->levels; level++) {
        if (!hal_level_may_leaf(G(), level))
            continue;
        pfn_t step = (pfn_t)1 << (HAL_BITS_PER_LEVEL * (level - 1));
        pfn_t pfns[] = { 0, step, step * 3, (hal_max_pfn(G()) & ~(step - 1)) };
        for (unsigned bits = 0; bits < 64; bits++) {
            vm_flags f = combo(bits);
            for (unsigned i = 0; i < ARRAY_SIZE(pfns); i++) {
                pte_t e;
                cr_assert_eq(hal_pte_make_leaf(level, pfns[i], f, &e), 0, "level %u flags %#x pfn %#llx", level, f,
                             (unsigned long long)pfns[i]);
                cr_assert(hal_pte_present(e));
                cr_assert(hal_pte_is_leaf(level, e), "level %u entry %#llx not a leaf", level, (unsigned long long)e);
                cr_assert_eq(hal_pte_pfn(level, e), pfns[i], "level %u flags %#x", level, f);
                cr_assert_eq(hal_pte_flags(level, e), f & HAL_VM_FLAGS_ENCODED, "level %u: got %#x want %#x", level,
                             hal_pte_flags(level, e), f & HAL_VM_FLAGS_ENCODED);
                /* with other flags: same frame, new flags */
                vm_flags g = combo(63 - bits);
                pte_t e2;
                cr_assert_eq(hal_pte_set_flags(level, e, g, &e2), 0);
                cr_assert_eq(hal_pte_pfn(level, e2), pfns[i]);
                cr_assert_eq(hal_pte_flags(level, e2), g & HAL_VM_FLAGS_ENCODED);
                checked++;
            }
        }
    }
    cr_assert_gt(checked, 64 * 4 * 2);
}

Test(codec, leaf_without_read_is_refused)
{
    vm_flags bad[] = { VM_NONE, VM_WRITE, VM_EXEC, VM_WRITE | VM_EXEC, VM_USER | VM_WRITE };
    for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
        pte_t e = 0x1234;
        cr_assert_eq(hal_pte_make_leaf(1, 5, bad[i], &e), -EINVAL, "flags %#x", bad[i]);
        cr_assert_eq(e, 0x1234, "output written on refusal");
    }
}

Test(codec, huge_leaf_with_misaligned_frame_is_refused)
{
    pte_t e;
    cr_assert_eq(hal_pte_make_leaf(2, 1, VM_RW, &e), -EINVAL);
    cr_assert_eq(hal_pte_make_leaf(3, 512, VM_RW, &e), -EINVAL);
    cr_assert_eq(hal_pte_make_leaf(2, 512, VM_RW, &e), 0);
}

Test(codec, unknown_flag_bits_are_refused)
{
    pte_t e;
    cr_assert_eq(hal_pte_make_leaf(1, 1, (vm_flags)(VM_READ | (1u << 12)), &e), -EINVAL);
}

Test(codec, frame_beyond_encodable_width_is_refused)
{
    pte_t e;
    cr_assert_eq(hal_pte_make_leaf(1, hal_max_pfn(G()) + 1, VM_READ, &e), -EINVAL);
    cr_assert_eq(hal_pte_make_leaf(1, hal_max_pfn(G()), VM_READ, &e), 0);
}

Test(codec, table_entry_points_to_table_and_is_not_a_leaf)
{
    for (unsigned level = 2; level <= G()->levels; level++) {
        for (int user = 0; user < 2; user++) {
            pte_t e = hal_pte_make_table(0x12345, user);
            cr_assert(hal_pte_present(e));
            cr_assert(!hal_pte_is_leaf(level, e), "level %u table entry %#llx reads as a leaf", level,
                      (unsigned long long)e);
            cr_assert_eq(hal_pte_pfn(level, e), 0x12345);
        }
    }
}

Test(codec, table_entries_made_by_the_walker_withhold_only_user_rights_in_the_kernel_half)
{
    /* What hal_pte_table_allows says of the walker's own table entries: the
     * leaf decides everything, except that x86's kernel-half tables lack U/S. */
    cr_assert_eq(hal_pte_table_allows(hal_pte_make_table(5, true)), VM_ALL_FLAGS);
    vm_flags kernel_half = hal_pte_table_allows(hal_pte_make_table(5, false));
    cr_assert(kernel_half == VM_ALL_FLAGS || kernel_half == (VM_ALL_FLAGS & ~VM_USER), "got %#x", kernel_half);
}

Test(codec, zero_entry_is_not_present)
{
    for (unsigned level = 1; level <= G()->levels; level++) {
        cr_assert(!hal_pte_present(0));
        cr_assert(!hal_pte_is_leaf(level, 0));
    }
}

Test(codec, set_flags_on_non_leaf_is_refused)
{
    pte_t out = 7;
    cr_assert_eq(hal_pte_set_flags(2, hal_pte_make_table(9, false), VM_RW, &out), -EINVAL);
    cr_assert_eq(hal_pte_set_flags(1, 0, VM_RW, &out), -EINVAL);
    cr_assert_eq(out, 7);
}

#ifdef X86_PTE_P
Test(codec, x86_bits_are_where_the_sdm_puts_them)
{
    pte_t e;
    cr_assert_eq(hal_pte_make_leaf(1, 0x1000, VM_READ, &e), 0);
    cr_assert(e & X86_PTE_NX, "non-exec leaf lacks NX (bit 63)");
    cr_assert(!(e & X86_PTE_RW) && !(e & X86_PTE_US) && !(e & X86_PTE_PS));
    cr_assert_eq(hal_pte_make_leaf(1, 0x1000, VM_USER_RWX | VM_GLOBAL | VM_CACHE_DISABLED | VM_WRITE_THROUGH, &e), 0);
    cr_assert_eq(e & (X86_PTE_NX | X86_PTE_RW | X86_PTE_US | X86_PTE_G | X86_PTE_PCD | X86_PTE_PWT),
                 X86_PTE_RW | X86_PTE_US | X86_PTE_G | X86_PTE_PCD | X86_PTE_PWT);
    /* PS at levels 2 and 3; bit 12 is PAT in huge leaves, never part of the frame */
    cr_assert_eq(hal_pte_make_leaf(2, 0x200, VM_RW, &e), 0);
    cr_assert(e & X86_PTE_PS);
    cr_assert_eq((e >> 12) & 1, 0);
    cr_assert_eq(hal_pte_pfn(2, e | X86_PTE_PAT_HUGE), 0x200, "PAT bit read as part of the frame");
    cr_assert_eq(hal_pte_make_leaf(3, 0x40000, VM_RW, &e), 0);
    cr_assert(e & X86_PTE_PS);
    cr_assert_eq(hal_pte_make_leaf(4, 0, VM_RW, &e), -EINVAL, "x86 has no 512 GiB pages");
    /* at level 1, bit 7 is PAT: still a leaf */
    cr_assert(hal_pte_is_leaf(1, X86_PTE_P | X86_PTE_PS));
    /* user-half tables carry U/S and R/W, kernel-half ones R/W only */
    cr_assert_eq(hal_pte_make_table(5, true) & (X86_PTE_US | X86_PTE_RW | X86_PTE_NX), X86_PTE_US | X86_PTE_RW);
    cr_assert_eq(hal_pte_make_table(5, false) & (X86_PTE_US | X86_PTE_RW), X86_PTE_RW);
    /* a table entry withholds below it what it lacks (SDM 4.6: every level counts) */
    cr_assert_eq(hal_pte_table_allows(hal_pte_make_table(5, false)), VM_ALL_FLAGS & ~VM_USER);
    cr_assert_eq(hal_pte_table_allows(X86_PTE_P | X86_PTE_US), VM_ALL_FLAGS & ~VM_WRITE);
    cr_assert_eq(hal_pte_table_allows(X86_PTE_P | X86_PTE_US | X86_PTE_RW | X86_PTE_NX), VM_ALL_FLAGS & ~VM_EXEC);
}
#endif

#ifdef RV_PTE_V
Test(codec, riscv_leaf_and_table_bits_follow_the_spec)
{
    pte_t e;
    cr_assert_eq(hal_pte_make_leaf(1, 0x80000, VM_READ, &e), 0);
    cr_assert_eq(e & 0xff, RV_PTE_V | RV_PTE_R | RV_PTE_A | RV_PTE_D, "A and D set on leaves");
    cr_assert_eq(e >> 10, 0x80000);
    cr_assert_eq(hal_pte_make_leaf(1, 1, VM_USER_RWX | VM_GLOBAL, &e), 0);
    cr_assert_eq(e & 0xff, 0xff);
    /* table entries: V only; U, A, D clear */
    pte_t t = hal_pte_make_table(0x80001, true);
    cr_assert_eq(t & 0x3ff, RV_PTE_V);
    cr_assert_eq(hal_pte_table_allows(RV_PTE_V), VM_ALL_FLAGS, "riscv's table entries restrict nothing");
    /* W without R cannot be encoded */
    cr_assert_eq(hal_pte_make_leaf(1, 1, VM_WRITE, &e), -EINVAL);
    cr_assert_eq(hal_pte_make_leaf(1, 1, VM_WRITE | VM_EXEC, &e), -EINVAL);
    /* leaves at every level that may hold one, Sv48/57 512 GiB pages included */
    if (G()->levels >= 4) {
        cr_assert(hal_level_may_leaf(G(), 4));
        cr_assert_eq(hal_pte_make_leaf(4, (pfn_t)1 << 27, VM_RW, &e), 0);
        cr_assert(hal_pte_is_leaf(4, e));
    } else {
        cr_assert(!hal_level_may_leaf(G(), 4));
    }
}
#endif

#ifdef A64_PTE_VALID
/* The aarch64 tests pick their descriptor layout themselves (each test runs
 * in a process of its own), whichever geometry the suite runs in. */
static const hal_geometry_t *a64_select(const char *name)
{
    const hal_geometry_t *g = hal_geometry_find(name);
    cr_assert_not_null(g, "no geometry %s", name);
    hal_codec_select(g);
    return g;
}

Test(codec, aarch64_descriptor_bits_follow_the_arm_arm)
{
    pte_t e;
    const hal_geometry_t *g48 = a64_select("aarch64-4level");
    cr_assert(!a64_lpa2, "48-bit output addresses: no LPA2 layout");
    /* a read-only kernel page: page descriptor 0b11, AF, inner shareable,
     * AP[2] set, UXN and PXN, nG, write-back (AttrIndx 0) */
    cr_assert_eq(hal_pte_make_leaf(1, 0x40000, VM_READ, &e), 0);
    cr_assert_eq(e, 0x40000000ull | 0x3 | A64_PTE_AF | A64_PTE_SH_INNER | A64_PTE_AP_RO | A64_PTE_UXN | A64_PTE_PXN |
                        A64_PTE_NG, "got %#llx", (unsigned long long)e);
    cr_assert_eq(e, 0x0060000040000f83ull, "got %#llx", (unsigned long long)e);
    /* a user RWX page: AP[1] (EL0), never executable at EL1 (PXN), UXN clear */
    cr_assert_eq(hal_pte_make_leaf(1, 1, VM_USER_RWX, &e), 0);
    cr_assert_eq(e & (A64_PTE_AP_EL0 | A64_PTE_AP_RO | A64_PTE_PXN | A64_PTE_UXN | A64_PTE_NG),
                 A64_PTE_AP_EL0 | A64_PTE_PXN | A64_PTE_NG);
    /* a global kernel executable page: no nG, no PXN, UXN */
    cr_assert_eq(hal_pte_make_leaf(1, 1, VM_READ | VM_EXEC | VM_GLOBAL, &e), 0);
    cr_assert_eq(e & (A64_PTE_AP_EL0 | A64_PTE_PXN | A64_PTE_UXN | A64_PTE_NG), A64_PTE_UXN);
    /* AttrIndx: write-through 1, device 2, device (write-through asked) 3;
     * the MAIR holds normal WB, normal WT, Device-nGnRE twice */
    cr_assert_eq(A64_MAIR_VALUE, 0x0404bbffull);
    cr_assert_eq(hal_pte_make_leaf(1, 1, VM_RW | VM_WRITE_THROUGH, &e), 0);
    cr_assert_eq((e >> 2) & 7, 1);
    cr_assert_eq((A64_MAIR_VALUE >> 8) & 0xff, 0xbb);
    cr_assert_eq(hal_pte_make_leaf(1, 1, VM_RW | VM_CACHE_DISABLED, &e), 0);
    cr_assert_eq((e >> 2) & 7, 2);
    cr_assert_eq((A64_MAIR_VALUE >> 16) & 0xff, 0x04);
    cr_assert_eq(hal_pte_make_leaf(1, 1, VM_RW | VM_CACHE_DISABLED | VM_WRITE_THROUGH, &e), 0);
    cr_assert_eq((e >> 2) & 7, 3);
    cr_assert_eq((A64_MAIR_VALUE >> 24) & 0xff, 0x04);
    /* blocks at levels 2 and 3 (0b01), none at level 4 */
    cr_assert_eq(hal_pte_make_leaf(2, 0x200, VM_RW, &e), 0);
    cr_assert_eq(e & 3, 1);
    cr_assert(hal_pte_is_leaf(2, e) && !hal_pte_is_leaf(1, e), "0b01 is a block above level 1 only");
    cr_assert_eq(hal_pte_make_leaf(3, 0x40000, VM_RW, &e), 0);
    cr_assert_eq(e & 3, 1);
    cr_assert_eq(hal_pte_make_leaf(4, 0, VM_RW, &e), -EINVAL, "no 512 GiB blocks without LPA2");
    /* tables: 0b11; the kernel half's withhold EL0 access and EL0 execution */
    pte_t t = hal_pte_make_table(0x12345, true);
    cr_assert_eq(t, 0x12345003ull);
    t = hal_pte_make_table(0x12345, false);
    cr_assert_eq(t, 0x12345003ull | A64_TABLE_AP_NO_EL0 | A64_TABLE_UXN);
    cr_assert_eq(hal_pte_table_allows(t), VM_ALL_FLAGS & ~VM_USER);
    cr_assert_eq(hal_pte_table_allows(3 | A64_TABLE_AP_RO), VM_ALL_FLAGS & ~VM_WRITE);
    cr_assert_eq(hal_pte_table_allows(3 | A64_TABLE_PXN | A64_TABLE_UXN), VM_ALL_FLAGS & ~VM_EXEC);
    cr_assert_eq(hal_pte_table_allows(3 | A64_TABLE_PXN), VM_ALL_FLAGS, "PXNTable alone: the leaf decides");
    /* a table entry at levels 2-4 is never a leaf; at level 1 0b11 is a page */
    cr_assert(!hal_pte_is_leaf(2, t) && !hal_pte_is_leaf(4, t) && hal_pte_is_leaf(1, t));
    cr_assert_eq(hal_max_pfn(g48), (1ull << 36) - 1, "48-bit output addresses");
    cr_assert_eq(a64_max_pfn(), hal_max_pfn(g48));
    cr_assert_eq(hal_pte_make_leaf(1, 1ull << 36, VM_READ, &e), -EINVAL);
    /* the geometry declares what the MMU asks of the walker */
    cr_assert(hal_break_before_make(G()) && hal_separate_kernel_root(G()) && hal_invalidation_broadcasts(G()));
}

/* FEAT_LPA2 (TCR_EL1.DS = 1, 4 KiB granule): OA[49:12] in bits 49:12 and
 * OA[51:50] in bits 9:8, for leaves and table entries alike; no SH bits. */
Test(codec, aarch64_lpa2_descriptors_carry_oa_51_50_in_bits_9_8)
{
    pte_t e;
    const hal_geometry_t *g52 = a64_select("aarch64-5level");
    cr_assert(a64_lpa2 && g52->levels == 5 && g52->va_bits == 52 && g52->pa_bits == 52);
    cr_assert_eq(hal_max_pfn(g52), (1ull << 40) - 1, "52-bit output addresses");
    cr_assert_eq(a64_max_pfn(), hal_max_pfn(g52));
    /* a frame below 2^50: the 48-bit layout's bits but for SH (now OA[51:50] = 0) */
    cr_assert_eq(hal_pte_make_leaf(1, 0x40000, VM_READ, &e), 0);
    cr_assert_eq(e, 0x0060000040000c83ull, "got %#llx", (unsigned long long)e);
    /* PA 2^50 + 1 GiB: OA[50] is bit 8 */
    pfn_t hi = ((pfn_t)1 << 38) | 0x40000;
    cr_assert_eq(hal_pte_make_leaf(1, hi, VM_READ, &e), 0);
    cr_assert_eq(e, 0x0060000040000d83ull, "got %#llx", (unsigned long long)e);
    cr_assert_eq(hal_pte_pfn(1, e), hi);
    cr_assert_eq(hal_pte_flags(1, e), VM_READ);
    /* PA 2^51 + 2^49: OA[51] is bit 9, OA[49] stays at bit 49 */
    pfn_t hi51 = ((pfn_t)1 << 39) | ((pfn_t)1 << 37);
    cr_assert_eq(hal_pte_make_leaf(1, hi51, VM_RW, &e), 0);
    cr_assert_eq(e & (0x0003fffffffff000ull | A64_PTE_OA_HI), (1ull << 49) | (2ull << 8), "got %#llx",
                 (unsigned long long)e);
    cr_assert_eq(hal_pte_pfn(1, e), hi51);
    /* the last frame, and one past it */
    cr_assert_eq(hal_pte_make_leaf(1, ((pfn_t)1 << 40) - 1, VM_RW, &e), 0);
    cr_assert_eq(e & (0x0003fffffffff000ull | A64_PTE_OA_HI), 0x0003fffffffff000ull | A64_PTE_OA_HI);
    cr_assert_eq(hal_pte_pfn(1, e), ((pfn_t)1 << 40) - 1);
    cr_assert_eq(hal_pte_make_leaf(1, (pfn_t)1 << 40, VM_READ, &e), -EINVAL);
    /* other flags keep the frame above 2^50 */
    pte_t e2;
    cr_assert_eq(hal_pte_make_leaf(1, hi, VM_READ, &e), 0);
    cr_assert_eq(hal_pte_set_flags(1, e, VM_RW | VM_CACHE_DISABLED, &e2), 0);
    cr_assert_eq(hal_pte_pfn(1, e2), hi);
    cr_assert_eq((e2 >> 2) & 7, A64_ATTR_DEVICE);
    /* a table above 2^50: its next-level address the same way */
    pfn_t thi = ((pfn_t)3 << 38) | 0x12345;
    pte_t t = hal_pte_make_table(thi, true);
    cr_assert_eq(t, 0x12345003ull | (3ull << 8), "got %#llx", (unsigned long long)t);
    for (unsigned level = 2; level <= 5; level++) {
        cr_assert_eq(hal_pte_pfn(level, t), thi, "level %u", level);
        cr_assert(!hal_pte_is_leaf(level, t));
    }
    /* blocks: 2 MiB and 1 GiB above 2^50, and 512 GiB ones at Arm's level 0 */
    cr_assert_eq(hal_pte_make_leaf(2, ((pfn_t)1 << 38) | 0x200, VM_RW, &e), 0);
    cr_assert_eq(e & 3, 1);
    cr_assert_eq(hal_pte_pfn(2, e), ((pfn_t)1 << 38) | 0x200);
    cr_assert_eq(hal_pte_make_leaf(3, ((pfn_t)2 << 38) | 0x40000, VM_RW, &e), 0);
    cr_assert_eq(hal_pte_pfn(3, e), ((pfn_t)2 << 38) | 0x40000);
    cr_assert(hal_level_may_leaf(g52, 4) && !hal_level_may_leaf(g52, 5));
    cr_assert_eq(hal_pte_make_leaf(4, ((pfn_t)3 << 38) | ((pfn_t)1 << 27), VM_RW | VM_GLOBAL, &e), 0);
    cr_assert_eq(e & 3, 1, "a block descriptor");
    cr_assert(hal_pte_is_leaf(4, e));
    cr_assert_eq(hal_pte_pfn(4, e), ((pfn_t)3 << 38) | ((pfn_t)1 << 27));
    cr_assert_eq(hal_pte_make_leaf(4, (pfn_t)1 << 26, VM_RW, &e), -EINVAL, "not 512 GiB aligned");
    cr_assert_eq(hal_pte_make_leaf(5, 0, VM_RW, &e), -EINVAL, "no leaves in the level -1 root");
    /* the same bits decoded in the 48-bit layout lose OA[51:50]: the layout matters */
    cr_assert_eq(hal_pte_make_leaf(1, hi, VM_READ, &e), 0);
    a64_select("aarch64-4level");
    cr_assert_eq(hal_pte_pfn(1, e), 0x40000);
    cr_assert(!hal_pte_is_leaf(4, 1), "no 512 GiB blocks without LPA2");
}

/* mm_init puts the codec in the layout of the geometry it is given. */
Test(codec, aarch64_mm_init_selects_the_layout_of_its_geometry)
{
    cr_assert_eq(a64_lpa2, G()->pa_bits == 52, "the suite's geometry %s", G()->name);
    cr_assert_eq(kmm_host_init(TEST_RAM_MIB, "aarch64-5level"), 0);
    cr_assert(a64_lpa2);
    cr_assert_eq(kmm_host_init(TEST_RAM_MIB, "aarch64-4level"), 0);
    cr_assert(!a64_lpa2);
}
#endif

Test(codec, geometry_splits_address_space_at_the_canonical_hole)
{
    const hal_geometry_t *g = G();
    /* the root indexes what va_bits leaves it: 9 bits, or 4 (aarch64-5level) */
    unsigned root_bits = g->va_bits - hal_level_shift(g->levels), entries = hal_level_entries(g, g->levels);
    cr_assert(root_bits >= 1 && root_bits <= 9);
    cr_assert_eq(root_bits, strcmp(g->name, "aarch64-5level") == 0 ? 4 : 9);
    cr_assert_eq(entries, 1u << root_bits);
    for (unsigned level = 1; level < g->levels; level++)
        cr_assert_eq(hal_level_entries(g, level), 512);
    ptr_t ue = hal_user_end(g), ks = hal_kernel_start(g);
    cr_assert(hal_is_canonical(g, ue - 1));
    cr_assert(!hal_is_canonical(g, ue));
    cr_assert(!hal_is_canonical(g, ks - 1));
    cr_assert(hal_is_canonical(g, ks));
    cr_assert(hal_is_canonical(g, ~(ptr_t)0));
    cr_assert(hal_is_user_addr(g, ue - 1) && !hal_is_user_addr(g, ks));
    cr_assert_eq(hal_level_index(g, g->levels, ks), entries / 2);
    cr_assert_eq(hal_level_index(g, g->levels, ue - 1), entries / 2 - 1);
    cr_assert_eq(hal_level_index(g, g->levels, ~(ptr_t)0), entries - 1);
    cr_assert_eq(hal_level_index(g, g->levels, 0), 0);
}
