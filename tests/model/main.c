/* tests/model/main.c - the seeded driver of the model-based random tester.
 *
 *   model-check-<arch> [--geometry NAME|all] [--seed S] [--seeds K] [--ops N]
 *                      [--full-every N] [--ram MIB] [--no-inject] [--verbose] [--tap]
 *
 * Runs K campaigns of N operations per geometry, seeds S, S+1, ... (each
 * seed is mixed with the geometry name, so every geometry sees different
 * sequences). Prints, per geometry, one line
 *   model-check <geometry>: <N> ops, <N> checks, <N> violations, <N> leaks
 * (as a TAP comment with --tap, one test point per geometry and seed) and,
 * on a failure, the seed, the step and the command that replays it.
 * Exit status 0 when every campaign is clean. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/hal.h"
#include "model.h"

static uint64_t mix(const char *name, uint64_t seed)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a of the name, then the seed */
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    return h ^ (seed * 0x9e3779b97f4a7c15ull);
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--geometry NAME|all] [--seed S] [--seeds K] [--ops N] [--full-every N] [--ram MIB]\n"
            "          [--no-inject] [--verbose] [--tap]\n",
            argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *geometry = "all";
    uint64_t seed = 1;
    size_t seeds = 1;
    model_config_t cfg = { .ops = 10000, .full_every = 64, .ram_mib = 32, .inject = true };
    bool tap = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--geometry") && v)
            geometry = argv[++i];
        else if (!strcmp(a, "--seed") && v)
            seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(a, "--seeds") && v)
            seeds = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(a, "--ops") && v)
            cfg.ops = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(a, "--full-every") && v)
            cfg.full_every = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(a, "--ram") && v)
            cfg.ram_mib = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(a, "--no-inject"))
            cfg.inject = false;
        else if (!strcmp(a, "--verbose"))
            cfg.verbose = true;
        else if (!strcmp(a, "--tap"))
            tap = true;
        else
            usage(argv[0]);
    }
    if (!seeds || !cfg.ops)
        usage(argv[0]);

    const hal_geometry_t *list[8];
    size_t ng = 0;
    for (size_t i = 0; i < hal_arch_geometry_count && ng < 8; i++)
        if (!strcmp(geometry, "all") || !strcmp(geometry, hal_arch_geometries[i].name))
            list[ng++] = &hal_arch_geometries[i];
    if (!ng) {
        fprintf(stderr, "%s: no geometry named %s in this build (%s)\n", argv[0], geometry, HAL_ARCH_NAME);
        return 2;
    }
    if (tap)
        printf("TAP version 13\n1..%zu\n", ng * seeds);
    int failed = 0;
    size_t point = 0;
    for (size_t g = 0; g < ng; g++) {
        const char *name = list[g]->name;
        model_result_t total = { 0 };
        for (size_t k = 0; k < seeds; k++) {
            uint64_t s = seed + k;
            model_source_t src;
            model_source_seed(&src, mix(name, s));
            cfg.geometry = name;
            model_result_t res;
            int rc = model_run(&cfg, &src, &res);
            total.ops += res.ops;
            total.checks += res.checks;
            total.violations += res.violations;
            total.leaks += res.leaks;
            total.injected += res.injected;
            total.injected_failed += res.injected_failed;
            total.refused += res.refused;
            point++;
            if (rc == 0) {
                if (tap)
                    printf("ok %zu - %s seed %" PRIu64 ": %zu ops, %zu checks\n", point, name, s, res.ops, res.checks);
                continue;
            }
            failed = 1;
            if (tap)
                printf("not ok %zu - %s seed %" PRIu64 "\n", point, name, s);
            const char *p = tap ? "# " : "";
            if (rc == -2)
                printf("%s%s: the host platform could not be brought up (%zu MiB)\n", p, name, cfg.ram_mib);
            else
                printf("%s%s seed %" PRIu64 ": failed at step %zu: %s\n"
                       "%sreplay: %s --geometry %s --seed %" PRIu64 " --ops %zu --full-every %zu --ram %zu%s --verbose\n",
                       p, name, s, res.fail_step, res.first, p, argv[0], name, s,
                       res.violations ? res.fail_step + 1 : cfg.ops, cfg.full_every, cfg.ram_mib,
                       cfg.inject ? "" : " --no-inject");
        }
        printf("%smodel-check %s: %zu ops, %zu checks, %zu violations, %zu leaks\n", tap ? "# " : "", name, total.ops,
               total.checks, total.violations, total.leaks);
        printf("%s  (%zu operations refused as the model predicted, %zu with an injected allocation failure armed, "
               "%zu of which failed with -ENOMEM and were checked unchanged)\n",
               tap ? "# " : "", total.refused, total.injected, total.injected_failed);
        fflush(stdout);
    }
    return failed;
}
