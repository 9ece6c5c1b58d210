/* kernel/cmdline.h - the kernel command line: space-separated tokens,
 * either `word` or `key=value`. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* True if the command line holds the token exactly (e.g. "ktest"). */
bool cmdline_has(const char *cmdline, const char *token);
/* Copies the value of key=value into buf (NUL-terminated, truncated to
 * size - 1); returns true if the key is present. */
bool cmdline_get(const char *cmdline, const char *key, char *buf, size_t size);
/* The value of key=value as a decimal number (at most 9 digits): 1 with
 * *out set, 0 if the key is absent, -EINVAL if the value is not such a
 * number (*out unchanged). */
int cmdline_get_uint(const char *cmdline, const char *key, unsigned *out);
