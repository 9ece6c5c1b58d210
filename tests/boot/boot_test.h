/* tests/boot/boot_test.h - what every boot test includes: the KTEST runner,
 * the paging API, the arch services (arch_cpu_has, probes) and helpers to
 * build and tear down contexts. Arch-neutral: no test names an arch. */
#pragma once

#include "kernel/arch.h"
#include "kernel/fault.h"
#include "kernel/kernel.h"
#include "kernel/ktest.h"
#include "kernel/lib/string.h"
#include "kernel/printk.h"
#include "kernel/ptwalk.h"
#include "mm/paging.h"
