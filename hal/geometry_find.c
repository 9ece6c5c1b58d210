/* hal/geometry_find.c - look a geometry of the built arch up by name. */
#include "hal/hal.h"

/* Compared here rather than with strcmp, so that an embedding kernel needs
 * no string library. */
static bool same_name(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

const hal_geometry_t *hal_geometry_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < hal_arch_geometry_count; i++)
        if (same_name(hal_arch_geometries[i].name, name))
            return &hal_arch_geometries[i];
    return NULL;
}
