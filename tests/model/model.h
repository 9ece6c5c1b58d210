/* tests/model/model.h - the model-based random tester: drives long sequences
 * of operations of the generic layer over the host platform on several
 * contexts, keeps a plain reference model of what every touched page must
 * look like, and compares the real tables (software MMU walk, simulated RAM,
 * reference counts, vmap lists, invariant checker) with it after every step.
 *
 * One harness, two drivers: main.c decodes a seeded PRNG stream (replayable
 * from the printed seed), fuzz.c decodes libFuzzer's bytes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where operations come from: a PRNG (data == NULL) or a byte string that
 * ends (the fuzzer's input). Reads past the end give zeros and set done. */
typedef struct model_source {
    const uint8_t *data;
    size_t len, pos;
    uint64_t state; /* splitmix64 state when data == NULL */
    bool done;
} model_source_t;

void model_source_seed(model_source_t *s, uint64_t seed);
void model_source_bytes(model_source_t *s, const uint8_t *data, size_t len);

typedef struct model_config {
    const char *geometry; /* a geometry of the arch this harness is built for */
    size_t ops;           /* operations to run (0: until the source ends) */
    size_t full_every;    /* full sweep + mm_check_invariants every N ops (0: only at the end) */
    size_t ram_mib;       /* simulated RAM */
    bool inject;          /* arm random "fail the Nth allocation" before some operations */
    bool verbose;         /* print every operation on stderr */
    bool abort_on_violation; /* the fuzzer: abort() at the first violation */
} model_config_t;

typedef struct model_result {
    size_t ops;            /* operations run */
    size_t checks;         /* facts compared (model vs real, invariant checker's included) */
    size_t violations;     /* facts found false (the run stops at the first) */
    size_t leaks;          /* frames, table pages, vmaps, contexts not back at the end */
    size_t injected;       /* operations run with an injected allocation failure armed */
    size_t injected_failed;/* of those, operations that failed with -ENOMEM (and were checked unchanged) */
    size_t refused;        /* operations the model expected to be refused (bad input, -EEXIST, -EFAULT ...) */
    size_t fail_step;      /* the step of the first violation */
    char first[320];       /* the first violation, readable */
} model_result_t;

/* Runs one campaign: kmm_host_init with the geometry, operations from src,
 * checks, then destroys everything and counts leaks. Returns 0 if there was
 * no violation and no leak, -1 otherwise (see *res), -2 if the platform
 * could not be brought up. */
int model_run(const model_config_t *cfg, model_source_t *src, model_result_t *res);
