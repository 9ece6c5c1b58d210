/* tests/boot/user_program.h - running one user program (tests/user/) as a
 * boot test. The generated user_program_tests.c (tests/user/embed.py) has
 * one KTEST per program of tests/user/meson.build's list that calls this;
 * hand-written tests may call it too. */
#pragma once

#include "kernel/ktest.h"

/* Runs the embedded program `name` to its end (proc_run) with its KTAP
 * block nested under the test (four spaces), and records a failure unless
 * it exited 0 (a killed program ends with WAIT_KILLED), no process is left,
 * the kernel context is active again and the memory manager's invariants
 * hold. Whether every frame came back is the runner's check (kernel/ktest.c). */
void run_program(ktest_state_t *t, const char *name);
