/* tests/model/fuzz.c - libFuzzer entry point of the model-based tester: the
 * fuzzer's bytes are the operation stream (every choice the seeded driver
 * draws from its PRNG is read from the input instead), so every input is a
 * short campaign on the same harness, with the same checks after each step,
 * the invariant checker every 16 steps and the leak check at the end. The
 * first violation or leak aborts, which libFuzzer records as a crash.
 *
 * The first input byte picks the geometry of this arch; $KMM_FUZZ_GEOMETRY
 * pins one instead. Build and run: see docs/reliability.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/hal.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const char *pin = getenv("KMM_FUZZ_GEOMETRY");
    const hal_geometry_t *g = pin && *pin ? hal_geometry_find(pin) : &hal_arch_geometries[data[0] % hal_arch_geometry_count];
    if (!g) {
        fprintf(stderr, "KMM_FUZZ_GEOMETRY=%s: no such geometry in this build\n", pin);
        abort();
    }
    model_config_t cfg = { .geometry = g->name, .ops = 4096, .full_every = 16, .ram_mib = 16, .inject = true,
                           .abort_on_violation = true, .verbose = getenv("KMM_FUZZ_VERBOSE") != NULL };
    model_source_t src;
    model_source_bytes(&src, data + 1, size - 1);
    model_result_t res;
    int rc = model_run(&cfg, &src, &res);
    if (rc == -2) {
        fprintf(stderr, "fuzz-model: the host platform could not be brought up\n");
        abort();
    }
    if (rc != 0) {
        fprintf(stderr, "fuzz-model (%s): %zu violations, %zu leaks: %s\n", g->name, res.violations, res.leaks, res.first);
        abort();
    }
    return 0;
}
