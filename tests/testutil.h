/* Small helpers shared by the cmocka tests. Header-only; include after cmocka.h. */
#ifndef LH_TESTUTIL_H
#define LH_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

/* A fresh temporary directory; caller frees and removes it with tu_rmdir. */
static inline char *tu_tmpdir(const char *tag)
{
    char tmpl[256];
    snprintf(tmpl, sizeof(tmpl), "/tmp/lh-test-%s-XXXXXX", tag);
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static inline void tu_rmdir(char *d)
{
    if (d) lh_rm_rf(d);
    free(d);
}

/* Writes n bytes (n < 0: strlen) to dir/name; returns the path (caller frees). */
static inline char *tu_write(const char *dir, const char *name, const char *data, long n)
{
    char *p = lh_path_join(dir, name);
    FILE *f = fopen(p, "wb");
    if (!f) return p;
    fwrite(data, 1, n < 0 ? strlen(data) : (size_t)n, f);
    fclose(f);
    return p;
}

#endif
