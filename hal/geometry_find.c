/* hal/geometry_find.c - look a geometry of the built arch up by name. */
#include "hal/hal.h"

const hal_geometry_t *hal_geometry_find(const char *name)
{
    /* strcmp comes from libc on the host and kernel/lib in the kernel. */
    for (size_t i = 0; i < hal_arch_geometry_count; i++)
        if (__builtin_strcmp(hal_arch_geometries[i].name, name) == 0)
            return &hal_arch_geometries[i];
    return NULL;
}
