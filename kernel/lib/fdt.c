/* kernel/lib/fdt.c - bounds-checked flattened device tree reader (see fdt.h).
 *
 * The blob is big-endian and may sit at any alignment, so it is read a byte
 * at a time through be32()/be64(), each call preceded by a range check
 * against the limit the header and the caller agree on. */
#include "kernel/lib/fdt.h"

#include <stdbool.h>

enum {
    TOK_BEGIN_NODE = 1,
    TOK_END_NODE = 2,
    TOK_PROP = 3,
    TOK_NOP = 4,
    TOK_END = 9,
};

/* Nodes deeper than this are walked but not looked at (/reserved-memory's
 * children sit at depth 3, counting the root as 1). */
#define TRACKED_DEPTH 3

enum node_kind { NODE_OTHER, NODE_ROOT, NODE_MEMORY, NODE_RESV_PARENT, NODE_RESV_CHILD, NODE_CHOSEN, NODE_CPUS,
                 NODE_CPUS_CHILD, NODE_PSCI };

typedef struct node_state {
    enum node_kind kind;
    uint32_t addr_cells, size_cells; /* for this node's children */
    bool is_memory_type;             /* device_type = "memory" */
    bool is_cpu_type;                /* device_type = "cpu" */
    bool okay;                       /* status absent, "okay" or "ok" */
    int mmu;                         /* mmu-type as fdt_hart_t.mmu */
    uint32_t reg_off, reg_len;       /* the reg property, if any (reg_off 0: none) */
} node_state_t;

typedef struct parser {
    const uint8_t *b;
    uint32_t struct_end, strings_off, strings_size;
    fdt_info_t info;
} parser_t;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }

static bool str_eq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* True when the node name `name` ("memory@80000000") has the base `base`. */
static bool name_is(const char *name, const char *base)
{
    while (*base && *name == *base)
        name++, base++;
    return *base == 0 && (*name == 0 || *name == '@');
}

/* Length of the NUL-terminated string at [off, limit), or -1 if no NUL. */
static long str_len_within(const uint8_t *b, uint32_t off, uint32_t limit)
{
    for (uint32_t i = off; i < limit; i++)
        if (b[i] == 0)
            return (long)(i - off);
    return -1;
}

long fdt_total_size(const void *blob, size_t avail)
{
    const uint8_t *b = blob;
    if (avail < FDT_HEADER_SIZE)
        return FDT_ERR_TRUNCATED;
    if (be32(b) != FDT_MAGIC)
        return FDT_ERR_MAGIC;
    uint32_t total = be32(b + 4);
    if (total < FDT_HEADER_SIZE)
        return FDT_ERR_LAYOUT;
    return (long)total;
}

static int add_region(fdt_region_t *arr, size_t *n, uint64_t base, uint64_t size)
{
    if (size == 0)
        return 0;
    if (base + size < base)
        return FDT_ERR_REG;
    if (*n == FDT_MAX_REGIONS)
        return FDT_ERR_TOO_MANY;
    arr[*n].base = base;
    arr[*n].size = size;
    (*n)++;
    return 0;
}

/* Decode the reg property of `node` with its parent's cell sizes and append
 * each (address, size) pair to the array. */
static int take_reg(parser_t *p, const node_state_t *node, const node_state_t *parent, fdt_region_t *arr, size_t *n)
{
    if (node->reg_off == 0)
        return 0;
    uint32_t ac = parent->addr_cells, sc = parent->size_cells;
    if (ac < 1 || ac > 2 || sc < 1 || sc > 2)
        return FDT_ERR_CELLS;
    uint32_t entry = 4 * (ac + sc);
    if (node->reg_len % entry)
        return FDT_ERR_REG;
    for (uint32_t off = node->reg_off; off < node->reg_off + node->reg_len; off += entry) {
        const uint8_t *e = p->b + off;
        uint64_t base = ac == 2 ? be64(e) : be32(e);
        uint64_t size = sc == 2 ? be64(e + 4 * ac) : be32(e + 4 * ac);
        int err = add_region(arr, n, base, size);
        if (err)
            return err;
    }
    return 0;
}

/* A cpu node closes: its reg is one hart id of its parent's #address-cells
 * (1 or 2) with #size-cells 0. */
static int take_hart(parser_t *p, const node_state_t *node, const node_state_t *parent)
{
    uint32_t ac = parent->addr_cells;
    if (ac < 1 || ac > 2)
        return FDT_ERR_CELLS;
    if (parent->size_cells != 0 || node->reg_off == 0 || node->reg_len != 4 * ac)
        return FDT_ERR_CPU;
    if (p->info.nharts == FDT_MAX_HARTS) {
        p->info.harts_dropped++;
        return 0;
    }
    const uint8_t *r = p->b + node->reg_off;
    p->info.harts[p->info.nharts++] = (fdt_hart_t){ .hartid = ac == 2 ? be64(r) : be32(r), .okay = node->okay,
                                                    .mmu = node->mmu };
    return 0;
}

/* True if the value (len bytes) is a NUL-terminated string. */
static bool is_string(const uint8_t *v, uint32_t len) { return len > 0 && v[len - 1] == 0; }

/* mmu-type as fdt_hart_t.mmu. */
static int mmu_bits(const char *v)
{
    static const struct { const char *name; int bits; } types[] = {
        { "riscv,none", 0 }, { "riscv,sv39", 39 }, { "riscv,sv48", 48 }, { "riscv,sv57", 57 },
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (str_eq(v, types[i].name))
            return types[i].bits;
    return -1;
}

/* A property of `node` (value at val_off, len bytes): remember what matters. */
static int take_prop(parser_t *p, node_state_t *node, const char *name, uint32_t val_off, uint32_t len)
{
    const uint8_t *v = p->b + val_off;
    if (str_eq(name, "#address-cells") || str_eq(name, "#size-cells")) {
        if (len != 4)
            return FDT_ERR_CELLS;
        if (name[1] == 'a')
            node->addr_cells = be32(v);
        else
            node->size_cells = be32(v);
    } else if (str_eq(name, "reg")) {
        node->reg_off = val_off;
        node->reg_len = len;
    } else if (str_eq(name, "device_type")) {
        node->is_memory_type = len == 7 && str_eq((const char *)v, "memory");
        node->is_cpu_type = len == 4 && str_eq((const char *)v, "cpu");
    } else if (node->kind == NODE_CPUS_CHILD && (str_eq(name, "status") || str_eq(name, "mmu-type"))) {
        if (!is_string(v, len))
            return FDT_ERR_PROP;
        if (name[0] == 's')
            node->okay = str_eq((const char *)v, "okay") || str_eq((const char *)v, "ok");
        else
            node->mmu = mmu_bits((const char *)v);
    } else if (node->kind == NODE_CHOSEN && str_eq(name, "bootargs")) {
        if (!is_string(v, len))
            return FDT_ERR_PROP;
        p->info.bootargs = (const char *)v;
    } else if (node->kind == NODE_PSCI && str_eq(name, "method")) {
        if (!is_string(v, len))
            return FDT_ERR_PROP;
        p->info.psci = str_eq((const char *)v, "hvc")   ? FDT_PSCI_HVC
                       : str_eq((const char *)v, "smc") ? FDT_PSCI_SMC
                                                        : FDT_PSCI_UNKNOWN;
    } else if (node->kind == NODE_CPUS && str_eq(name, "timebase-frequency")) {
        if (len != 4 && len != 8)
            return FDT_ERR_PROP;
        p->info.timebase_hz = len == 4 ? be32(v) : be64(v);
    }
    return 0;
}

/* Classify a node from its name and its parent's kind. */
static enum node_kind node_kind(int depth, const char *name, enum node_kind parent)
{
    if (depth == 1)
        return NODE_ROOT;
    if (depth == 2) {
        if (name_is(name, "memory"))
            return NODE_MEMORY;
        if (name_is(name, "reserved-memory"))
            return NODE_RESV_PARENT;
        if (name_is(name, "chosen"))
            return NODE_CHOSEN;
        if (name_is(name, "cpus"))
            return NODE_CPUS;
        if (name_is(name, "psci"))
            return NODE_PSCI;
        return NODE_OTHER;
    }
    if (depth == 3 && parent == NODE_RESV_PARENT)
        return NODE_RESV_CHILD;
    return depth == 3 && parent == NODE_CPUS ? NODE_CPUS_CHILD : NODE_OTHER;
}

/* A node at `depth` closes: record its reg where it is memory, reserved or a hart. */
static int end_node(parser_t *p, node_state_t *st, int depth)
{
    if (depth < 2 || depth > TRACKED_DEPTH)
        return 0;
    node_state_t *node = &st[depth], *parent = &st[depth - 1];
    if (depth == 2 && (node->kind == NODE_MEMORY || node->is_memory_type))
        return take_reg(p, node, parent, p->info.memory, &p->info.nmemory);
    if (node->kind == NODE_RESV_CHILD)
        return take_reg(p, node, parent, p->info.reserved, &p->info.nreserved);
    if (node->kind == NODE_CPUS_CHILD && node->is_cpu_type)
        return take_hart(p, node, parent);
    return 0;
}

static int walk_struct(parser_t *p, uint32_t pos)
{
    node_state_t st[TRACKED_DEPTH + 1] = { { 0 } };
    int depth = 0;
    for (;;) {
        if ((uint64_t)pos + 4 > p->struct_end)
            return FDT_ERR_STRUCT; /* ran off the block without FDT_END */
        uint32_t tok = be32(p->b + pos);
        pos += 4;
        switch (tok) {
        case TOK_BEGIN_NODE: {
            long len = str_len_within(p->b, pos, p->struct_end);
            if (len < 0)
                return FDT_ERR_STRUCT;
            const char *name = (const char *)p->b + pos;
            pos += ((uint32_t)len + 1 + 3) & ~3u;
            if (depth == 0 && len != 0)
                return FDT_ERR_STRUCT; /* the root node has an empty name */
            depth++;
            if (depth <= TRACKED_DEPTH) {
                node_state_t *n = &st[depth];
                *n = (node_state_t){ .addr_cells = 2, .size_cells = 1, .okay = true, .mmu = -1 };
                n->kind = node_kind(depth, name, st[depth - 1].kind);
            }
            break;
        }
        case TOK_END_NODE: {
            if (depth == 0)
                return FDT_ERR_STRUCT;
            int err = end_node(p, st, depth);
            if (err)
                return err;
            depth--;
            break;
        }
        case TOK_PROP: {
            if ((uint64_t)pos + 8 > p->struct_end)
                return FDT_ERR_STRUCT;
            uint32_t len = be32(p->b + pos), nameoff = be32(p->b + pos + 4);
            pos += 8;
            if ((uint64_t)pos + len > p->struct_end || depth == 0)
                return FDT_ERR_STRUCT;
            if (nameoff >= p->strings_size)
                return FDT_ERR_STRING;
            uint32_t name_at = p->strings_off + nameoff;
            if (str_len_within(p->b, name_at, p->strings_off + p->strings_size) < 0)
                return FDT_ERR_STRING;
            if (depth <= TRACKED_DEPTH) {
                int err = take_prop(p, &st[depth], (const char *)p->b + name_at, pos, len);
                if (err)
                    return err;
            }
            pos = (uint32_t)(((uint64_t)pos + len + 3) & ~(uint64_t)3);
            break;
        }
        case TOK_NOP:
            break;
        case TOK_END:
            return depth == 0 ? 0 : FDT_ERR_STRUCT;
        default:
            return FDT_ERR_STRUCT;
        }
    }
}

/* The memory reservation block: (address, size) pairs of be64 up to (0, 0). */
static int walk_rsvmap(parser_t *p, uint32_t off, uint32_t total)
{
    for (;; off += 16) {
        if ((uint64_t)off + 16 > total)
            return FDT_ERR_RSVMAP;
        uint64_t base = be64(p->b + off), size = be64(p->b + off + 8);
        if (base == 0 && size == 0)
            return 0;
        int err = add_region(p->info.reserved, &p->info.nreserved, base, size);
        if (err)
            return err == FDT_ERR_REG ? FDT_ERR_RSVMAP : err;
    }
}

int fdt_parse(const void *blob, size_t avail, fdt_info_t *out)
{
    long total = fdt_total_size(blob, avail);
    if (total < 0)
        return (int)total;
    if ((uint64_t)total > avail)
        return FDT_ERR_TRUNCATED;
    const uint8_t *b = blob;
    uint32_t off_struct = be32(b + 8), off_strings = be32(b + 12), off_rsvmap = be32(b + 16);
    uint32_t version = be32(b + 20), last_comp = be32(b + 24);
    uint32_t size_strings = be32(b + 32), size_struct = be32(b + 36);
    if (version < 17 || last_comp > 17)
        return FDT_ERR_VERSION;
    uint64_t t = (uint64_t)total;
    if (off_struct < FDT_HEADER_SIZE || off_struct % 4 || size_struct % 4 || off_struct + (uint64_t)size_struct > t ||
        off_strings < FDT_HEADER_SIZE || off_strings + (uint64_t)size_strings > t || off_rsvmap < FDT_HEADER_SIZE ||
        off_rsvmap % 8)
        return FDT_ERR_LAYOUT;

    parser_t p = { .b = b, .struct_end = off_struct + size_struct, .strings_off = off_strings,
                   .strings_size = size_strings };
    p.info.bootargs = "";
    p.info.total_size = (uint32_t)total;
    int err = walk_rsvmap(&p, off_rsvmap, (uint32_t)total);
    if (!err)
        err = walk_struct(&p, off_struct);
    if (!err && p.info.nmemory == 0)
        err = FDT_ERR_NO_MEMORY;
    if (err)
        return err;
    *out = p.info;
    return 0;
}

const char *fdt_strerror(int err)
{
    switch (err) {
    case FDT_OK: return "no error";
    case FDT_ERR_TRUNCATED: return "blob larger than the bytes available (truncated)";
    case FDT_ERR_MAGIC: return "bad magic (not a flattened device tree)";
    case FDT_ERR_VERSION: return "unsupported version (need a v17-compatible blob)";
    case FDT_ERR_LAYOUT: return "a block lies outside the blob or is misaligned";
    case FDT_ERR_STRUCT: return "malformed structure block";
    case FDT_ERR_STRING: return "property name outside the strings block";
    case FDT_ERR_CELLS: return "bad #address-cells or #size-cells";
    case FDT_ERR_REG: return "reg is not a whole number of (address, size) pairs";
    case FDT_ERR_PROP: return "bootargs, status, mmu-type or method is not a string, or timebase-frequency not 4 or 8 bytes";
    case FDT_ERR_TOO_MANY: return "too many memory or reserved regions";
    case FDT_ERR_NO_MEMORY: return "no /memory node with a non-empty reg";
    case FDT_ERR_RSVMAP: return "memory reservation block runs off the blob";
    case FDT_ERR_CPU: return "a cpu node's reg is not one hart id (or /cpus #size-cells is not 0)";
    default: return "unknown error";
    }
}
