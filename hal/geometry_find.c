/* hal/geometry_find.c - look a geometry of the built arch up by name. */
#include "hal/hal.h"

const hal_geometry_t *hal_geometry_find(const char *name)
{
    for (size_t i = 0; i < hal_arch_geometry_count; i++) {
        const char *a = hal_arch_geometries[i].name, *b = name;
        while (*a && *a == *b)
            a++, b++;
        if (*a == 0 && *b == 0)
            return &hal_arch_geometries[i];
    }
    return NULL;
}
