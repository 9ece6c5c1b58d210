/* kernel/cmdline.c - tokens of the kernel command line. */
#include "kernel/cmdline.h"

#include "kernel/lib/string.h"
#include "mm/types.h"

/* Calls back for each token: [start, start + len). */
static const char *next_token(const char *p, size_t *len)
{
    while (*p == ' ')
        p++;
    if (!*p)
        return NULL;
    size_t n = 0;
    while (p[n] && p[n] != ' ')
        n++;
    *len = n;
    return p;
}

bool cmdline_has(const char *cmdline, const char *token)
{
    size_t tlen = strlen(token), len;
    for (const char *p = cmdline; (p = next_token(p, &len)); p += len)
        if (len == tlen && memcmp(p, token, len) == 0)
            return true;
    return false;
}

bool cmdline_get(const char *cmdline, const char *key, char *buf, size_t size)
{
    size_t klen = strlen(key), len;
    for (const char *p = cmdline; (p = next_token(p, &len)); p += len) {
        if (len > klen && p[klen] == '=' && memcmp(p, key, klen) == 0) {
            size_t vlen = len - klen - 1;
            if (size) {
                size_t n = vlen < size - 1 ? vlen : size - 1;
                memcpy(buf, p + klen + 1, n);
                buf[n] = 0;
            }
            return true;
        }
    }
    return false;
}

int cmdline_get_uint(const char *cmdline, const char *key, unsigned *out)
{
    size_t klen = strlen(key), len;
    for (const char *p = cmdline; (p = next_token(p, &len)); p += len) {
        if (len > klen && p[klen] == '=' && memcmp(p, key, klen) == 0) {
            size_t vlen = len - klen - 1;
            if (vlen == 0 || vlen > 9) /* at most 9 digits: no overflow */
                return -EINVAL;
            unsigned v = 0;
            for (size_t i = 0; i < vlen; i++) {
                char c = p[klen + 1 + i];
                if (c < '0' || c > '9')
                    return -EINVAL;
                v = v * 10 + (unsigned)(c - '0');
            }
            *out = v;
            return 1;
        }
    }
    return 0;
}
