/* kernel/extable.c - the exception table: pairs (instruction, fixup) that
 * the arch's probe helpers emit into the __ex_table section. A fault at a
 * listed instruction resumes at its fixup instead of stopping the kernel. */
#include "kernel/fault.h"

typedef struct extable_entry {
    ptr_t insn, fixup;
} extable_entry_t;

extern const extable_entry_t __ex_table_start[], __ex_table_end[];

ptr_t extable_lookup(ptr_t ip)
{
    for (const extable_entry_t *e = __ex_table_start; e < __ex_table_end; e++)
        if (e->insn == ip)
            return e->fixup;
    return 0;
}
