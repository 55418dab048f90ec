/* Garbage collection of data files that no committed version references. */
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"

#define DATA_PREFIX "data/"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every file key referenced by any committed version of dataset, sorted; caller frees.
 * A dataset without versions references nothing. */
static int referenced_keys(lh_catalog *c, const lh_identity *who, const char *dataset, char ***out,
                           size_t *count, lh_error *err)
{
    int64_t *versions = NULL;
    size_t nv = 0, n = 0, cap = 0;
    char **keys = NULL;
    *out = NULL;
    *count = 0;
    int rc = lh_catalog_versions(c, who, dataset, &versions, &nv, err);
    if (rc == LH_ENOENT) {
        lh_error_clear(err);
        return LH_OK;
    }
    if (rc) return rc;
    for (size_t i = 0; i < nv; i++) {
        lh_manifest *m = NULL;
        if ((rc = lh_catalog_get(c, who, dataset, versions[i], &m, err))) break;
        for (size_t f = 0; f < m->nfiles; f++) {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                keys = lh_realloc(keys, cap * sizeof(*keys));
            }
            keys[n++] = lh_strdup(m->files[f].key);
        }
        lh_manifest_free(m);
    }
    free(versions);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            free(keys[i]);
        free(keys);
        return rc;
    }
    if (n) qsort(keys, n, sizeof(*keys), cmp_str);
    *out = keys;
    *count = n;
    return LH_OK;
}

/* The dataset part of a data key ("data/<dataset>/..."), into buf; NULL if not of that form. */
static const char *key_dataset(const char *key, char *buf, size_t n)
{
    const char *rest = key + strlen(DATA_PREFIX);
    const char *slash = strchr(rest, '/');
    if (!slash || (size_t)(slash - rest) >= n) return NULL;
    memcpy(buf, rest, (size_t)(slash - rest));
    buf[slash - rest] = 0;
    return lh_name_valid(buf, NULL) ? buf : NULL;
}

int lh_catalog_gc(lh_catalog *c, const lh_identity *who, const char *dataset, int64_t grace_s,
                  bool dry_run, lh_gc_report *out, lh_error *err)
{
    memset(out, 0, sizeof(*out));
    if (dataset && !lh_name_valid(dataset, err)) return lh_error_prefix(err, "dataset");
    lh_storage *st = lh_catalog_storage(c);
    /* Objects are listed before versions are read: a file committed after the listing is
     * then seen as referenced, and one uploaded after it is not looked at. */
    char *prefix = dataset ? lh_sprintf(DATA_PREFIX "%s/", dataset) : lh_strdup(DATA_PREFIX);
    lh_object_list l = {0};
    int rc = lh_storage_list_all(st, prefix, &l, err);
    free(prefix);
    if (rc) return lh_error_prefix(err, "gc: listing data files");
    int64_t cutoff_us = lh_wall_us() - grace_s * 1000000;
    char cur[128 + 1] = "";
    char **refs = NULL;
    size_t nrefs = 0;
    for (size_t i = 0; i < l.count && !rc; i++) {
        const lh_object_info *o = &l.items[i];
        char ds[128 + 1];
        if (!key_dataset(o->key, ds, sizeof(ds))) continue; /* not a dataset file */
        out->scanned++;
        if (strcmp(ds, cur) != 0) { /* keys of one dataset are contiguous in key order */
            for (size_t k = 0; k < nrefs; k++)
                free(refs[k]);
            free(refs);
            refs = NULL;
            nrefs = 0;
            snprintf(cur, sizeof(cur), "%s", ds);
            if ((rc = referenced_keys(c, who, ds, &refs, &nrefs, err))) break;
        }
        const char *k = o->key;
        if (nrefs && bsearch(&k, refs, nrefs, sizeof(*refs), cmp_str)) {
            out->referenced++;
            continue;
        }
        if (o->mtime_us > cutoff_us) {
            out->young++;
            continue;
        }
        if (!dry_run && (rc = lh_storage_delete(st, o->key, err))) break;
        lh_log(LH_LOG_INFO, dry_run ? "catalog.gc_would_remove" : "catalog.gc_removed", "key",
               o->key, "actor", who->actor, NULL);
        out->removed++;
        out->removed_bytes += o->size;
    }
    for (size_t k = 0; k < nrefs; k++)
        free(refs[k]);
    free(refs);
    lh_storage_list_free(&l);
    return rc;
}
