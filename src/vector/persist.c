/*
 * HNSW index file: a 4 KiB header followed by page-aligned sections holding the in-memory
 * arrays byte for byte, so loading is mmap plus checks, no parse step.
 *
 * Header (little-endian): magic "LHHNSW\0\1", format version, sizes and parameters, a section
 * table (kind, CRC32C, offset, length) and a CRC32C of the header itself. A load checks, in
 * order: the file is at least a header long; magic; version; header CRC; every section's
 * length equals what the header's n/dim/m imply, lies inside the file and the file ends where
 * the last section ends (truncation); with verify, every section's CRC32C; then the structure
 * (entry point, levels, upper-list offsets) so a damaged graph can never index out of bounds.
 * Neighbour ids are bounds-checked during search as well. See docs/adr/0003-vector-index-file.md.
 */
#include "vector/vector_int.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_MAGIC "LHHNSW\0\1"
#define FILE_VERSION 1u
#define HEADER_SIZE 4096u
#define PAGE 4096u

enum {
    SEC_VECTORS = 1,
    SEC_LINK0,
    SEC_LEVELS,
    SEC_UPPER_OFF,
    SEC_UPPER,
    SEC_DELETED,
    SEC_CODES,
    SEC_SQ_MIN,
    SEC_SQ_SCALE,
    SEC_CODE_NORM,
    SEC_COUNT = SEC_CODE_NORM
};

static const char *sec_name[] = {"",        "vectors", "link0",  "levels",   "upper_off", "upper",
                                 "deleted", "codes",   "sq_min", "sq_scale", "code_norm"};

typedef struct file_section {
    uint32_t kind;
    uint32_t crc;
    uint64_t offset;
    uint64_t length;
} file_section;

typedef struct file_header {
    char magic[8];
    uint32_t version;
    uint32_t header_size;
    uint64_t dim, n, upper_used, entry, ndeleted, seed;
    uint32_t m, m0, ef_construction, ef_search, metric, quant;
    double build_s;
    uint32_t nsections;
    uint32_t pad;
    file_section sec[SEC_COUNT];
    uint32_t header_crc; /* CRC32C of the bytes before this field */
} file_header;

_Static_assert(sizeof(file_header) < HEADER_SIZE, "header fits its page");

/* Expected length of each section for a header; 0 = absent. */
static uint64_t sec_len(const file_header *fh, int kind)
{
    uint64_t n = fh->n, d = fh->dim;
    bool q = fh->quant == LH_QUANT_INT8;
    switch (kind) {
    case SEC_VECTORS:
        return n * d * 4;
    case SEC_LINK0:
        return n * (1 + (uint64_t)fh->m0) * 4;
    case SEC_LEVELS:
        return n;
    case SEC_UPPER_OFF:
        return n * 8;
    case SEC_UPPER:
        return fh->upper_used * 4;
    case SEC_DELETED:
        return (n + 63) / 64 * 8;
    case SEC_CODES:
        return q ? n * d : 0;
    case SEC_SQ_MIN:
        return q ? d * 4 : 0;
    case SEC_SQ_SCALE:
        return q ? d * 4 : 0;
    case SEC_CODE_NORM:
        return q ? n * 4 : 0;
    }
    return 0;
}

static const void *sec_src(const lh_hnsw *h, int kind)
{
    switch (kind) {
    case SEC_VECTORS:
        return h->vectors;
    case SEC_LINK0:
        return h->link0;
    case SEC_LEVELS:
        return h->levels;
    case SEC_UPPER_OFF:
        return h->upper_off;
    case SEC_UPPER:
        return h->upper;
    case SEC_DELETED:
        return (const void *)h->deleted;
    case SEC_CODES:
        return h->codes;
    case SEC_SQ_MIN:
        return h->sq_min;
    case SEC_SQ_SCALE:
        return h->sq_scale;
    case SEC_CODE_NORM:
        return h->code_norm;
    }
    return NULL;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n > (1u << 30) ? (1u << 30) : n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int lh_hnsw_save(const lh_hnsw *h, const char *path, lh_error *err)
{
    file_header fh;
    memset(&fh, 0, sizeof fh);
    memcpy(fh.magic, FILE_MAGIC, 8);
    fh.version = FILE_VERSION;
    fh.header_size = HEADER_SIZE;
    fh.dim = h->dim;
    fh.n = atomic_load(&h->n);
    fh.upper_used = atomic_load(&h->upper_used);
    fh.entry = atomic_load(&h->entry);
    fh.ndeleted = atomic_load(&h->ndeleted);
    fh.seed = h->params.seed;
    fh.m = (uint32_t)h->m;
    fh.m0 = (uint32_t)h->m0;
    fh.ef_construction = (uint32_t)h->params.ef_construction;
    fh.ef_search = (uint32_t)h->params.ef_search;
    fh.metric = (uint32_t)h->params.metric;
    fh.quant = (uint32_t)h->params.quant;
    fh.build_s = h->build_s;
    fh.nsections = SEC_COUNT;
    uint64_t off = HEADER_SIZE;
    for (int k = 1; k <= SEC_COUNT; k++) {
        file_section *s = &fh.sec[k - 1];
        s->kind = (uint32_t)k;
        s->length = sec_len(&fh, k);
        s->offset = off;
        s->crc = s->length ? vcrc32c(0, sec_src(h, k), s->length) : 0;
        off += (s->length + PAGE - 1) / PAGE * PAGE;
    }
    fh.header_crc = vcrc32c(0, &fh, offsetof(file_header, header_crc));

    char *tmp = lh_sprintf("%s.tmp.%d", path, (int)getpid());
    int rc = LH_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = lh_error_set(err, LH_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        goto out;
    }
    static const char zeros[PAGE];
    char *hdr = calloc(1, HEADER_SIZE);
    if (!hdr) {
        rc = lh_error_set(err, LH_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(hdr, &fh, sizeof fh);
    int wr = write_all(fd, hdr, HEADER_SIZE);
    free(hdr);
    for (int k = 1; k <= SEC_COUNT && wr == 0; k++) {
        const file_section *s = &fh.sec[k - 1];
        if (!s->length) continue;
        wr = write_all(fd, sec_src(h, k), s->length);
        size_t padn = (size_t)((PAGE - s->length % PAGE) % PAGE);
        if (wr == 0 && padn) wr = write_all(fd, zeros, padn);
    }
    if (wr != 0 || fsync(fd) != 0) {
        rc = lh_error_set(err, LH_EIO, "%s: write failed: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = lh_error_set(err, LH_EIO, "%s: close failed: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = lh_error_set(err, LH_EIO, "%s: rename to %s failed: %s", tmp, path, strerror(errno));
        goto out;
    }
out:
    if (fd >= 0) close(fd);
    if (rc != LH_OK) unlink(tmp);
    free(tmp);
    return rc;
}

void hnsw_unmap(lh_hnsw *h)
{
    if (h->map) munmap(h->map, h->map_len);
    h->map = NULL;
}

int lh_hnsw_load(const char *path, bool verify, lh_hnsw **out, lh_error *err)
{
    *out = NULL;
    int rc = LH_OK;
    lh_hnsw *h = NULL;
    void *map = MAP_FAILED;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lh_error_set(err, errno == ENOENT ? LH_ENOENT : LH_EIO, "%s: cannot open: %s", path,
                            strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = lh_error_set(err, LH_EIO, "%s: stat failed: %s", path, strerror(errno));
        goto fail;
    }
    len = (size_t)st.st_size;
    if (len < HEADER_SIZE) {
        rc = lh_error_set(err, LH_ECORRUPT,
                          "%s: truncated: %zu bytes, shorter than the %u-byte header", path, len,
                          HEADER_SIZE);
        goto fail;
    }
    map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        rc = lh_error_set(err, LH_EIO, "%s: mmap failed: %s", path, strerror(errno));
        goto fail;
    }
    const file_header *fh = map;
    if (memcmp(fh->magic, FILE_MAGIC, 8) != 0) {
        rc = lh_error_set(err, LH_ECORRUPT, "%s: not an HNSW index file (bad magic)", path);
        goto fail;
    }
    if (fh->version != FILE_VERSION) {
        rc = lh_error_set(err, LH_ECORRUPT, "%s: unsupported index format version %u (want %u)",
                          path, fh->version, FILE_VERSION);
        goto fail;
    }
    if (vcrc32c(0, fh, offsetof(file_header, header_crc)) != fh->header_crc) {
        rc = lh_error_set(err, LH_ECORRUPT, "%s: header checksum mismatch", path);
        goto fail;
    }
    if (fh->header_size != HEADER_SIZE || fh->nsections != SEC_COUNT || fh->dim == 0 ||
        fh->dim > 65536 || fh->m < 2 || fh->m > 256 || fh->m0 != 2 * fh->m ||
        fh->metric > LH_METRIC_COSINE || fh->quant > LH_QUANT_INT8 || fh->n >= 0x80000000u ||
        fh->ndeleted > fh->n || fh->ef_search < 1 || fh->ef_search > 4096 ||
        fh->ef_construction < 1 || fh->ef_construction > 4096) {
        rc = lh_error_set(err, LH_ECORRUPT, "%s: header fields out of range", path);
        goto fail;
    }
    uint64_t end = HEADER_SIZE;
    for (int k = 1; k <= SEC_COUNT; k++) {
        const file_section *s = &fh->sec[k - 1];
        uint64_t want = sec_len(fh, k);
        if (s->kind != (uint32_t)k || s->length != want || s->offset != end) {
            rc = lh_error_set(err, LH_ECORRUPT, "%s: section '%s' has a bad table entry", path,
                              sec_name[k]);
            goto fail;
        }
        uint64_t padded = (s->length + PAGE - 1) / PAGE * PAGE;
        if (s->offset + s->length > len) {
            rc = lh_error_set(err, LH_ECORRUPT,
                              "%s: truncated: section '%s' needs bytes up to %llu, file has "
                              "%zu",
                              path, sec_name[k], (unsigned long long)(s->offset + s->length), len);
            goto fail;
        }
        end += padded;
    }
    /* the last section's padding may be absent only if the file was cut, which the length
     * check above caught for data; trailing garbage is a different file */
    if (len != end) {
        rc = lh_error_set(err, LH_ECORRUPT, "%s: size %zu, header says %llu (%s)", path, len,
                          (unsigned long long)end, len < end ? "truncated" : "trailing bytes");
        goto fail;
    }
    if (verify) {
        for (int k = 1; k <= SEC_COUNT; k++) {
            const file_section *s = &fh->sec[k - 1];
            if (s->length && vcrc32c(0, (const char *)map + s->offset, s->length) != s->crc) {
                rc = lh_error_set(err, LH_ECORRUPT, "%s: section '%s' checksum mismatch", path,
                                  sec_name[k]);
                goto fail;
            }
        }
    }
    h = calloc(1, sizeof *h);
    if (!h) {
        rc = lh_error_set(err, LH_ENOMEM, "out of memory");
        goto fail;
    }
    const char *b = map;
#define SEC(k) ((void *)(b + fh->sec[(k)-1].offset))
    h->dim = fh->dim;
    lh_hnsw_params_default(&h->params);
    h->params.m = (int)fh->m;
    h->params.ef_construction = (int)fh->ef_construction;
    h->params.ef_search = (int)fh->ef_search;
    h->params.metric = (lh_vector_metric)fh->metric;
    h->params.quant = (lh_vector_quant)fh->quant;
    h->params.seed = fh->seed;
    h->params.capacity = fh->n;
    h->m = (int)fh->m;
    h->m0 = (int)fh->m0;
    h->level_mult = 1.0 / log((double)fh->m);
    h->cap = fh->n;
    h->vectors = SEC(SEC_VECTORS);
    h->link0 = SEC(SEC_LINK0);
    h->levels = SEC(SEC_LEVELS);
    h->upper_off = SEC(SEC_UPPER_OFF);
    h->upper = SEC(SEC_UPPER);
    h->upper_cap = fh->upper_used;
    h->deleted = SEC(SEC_DELETED);
    if (fh->quant == LH_QUANT_INT8) {
        h->codes = SEC(SEC_CODES);
        h->sq_min = SEC(SEC_SQ_MIN);
        h->sq_scale = SEC(SEC_SQ_SCALE);
        h->code_norm = SEC(SEC_CODE_NORM);
    }
#undef SEC
    h->build_s = fh->build_s;
    h->mapped = true;
    h->map = map;
    h->map_len = len;
    atomic_store(&h->n, fh->n);
    atomic_store(&h->upper_used, fh->upper_used);
    atomic_store(&h->ndeleted, fh->ndeleted);
    atomic_store(&h->entry, fh->entry);
    /* structure: every upper list inside the pool, entry point valid */
    if (fh->n) {
        uint32_t ep = (uint32_t)fh->entry;
        int top = (int)(fh->entry >> 32);
        if (fh->entry == UINT64_MAX || ep >= fh->n || top != h->levels[ep]) {
            rc = lh_error_set(err, LH_ECORRUPT, "%s: bad entry point", path);
            goto fail;
        }
        for (uint64_t i = 0; i < fh->n; i++) {
            uint8_t l = h->levels[i];
            if (l >= HNSW_MAX_LEVEL ||
                (l && (h->upper_off[i] > fh->upper_used ||
                       fh->upper_used - h->upper_off[i] < (uint64_t)l * (1 + fh->m))) ||
                l > top) {
                rc = lh_error_set(err, LH_ECORRUPT, "%s: node %llu has a bad level record", path,
                                  (unsigned long long)i);
                goto fail;
            }
        }
    } else if (fh->entry != UINT64_MAX) {
        rc = lh_error_set(err, LH_ECORRUPT, "%s: bad entry point", path);
        goto fail;
    }
    close(fd);
    *out = h;
    return LH_OK;
fail:
    if (h) {
        h->map = NULL;
        free(h);
    }
    if (map != MAP_FAILED) munmap(map, len);
    if (fd >= 0) close(fd);
    return rc;
}

static char *index_key(const char *index, const char *generation)
{
    return lh_sprintf("vectors/%s/%s/hnsw.bin", index, generation);
}

int lh_hnsw_store(const lh_hnsw *h, lh_storage *s, const char *index, const char *generation,
                  const char *tmp_dir, lh_error *err)
{
    if (!lh_name_valid(index, err)) return lh_error_wrap(err, LH_EINVAL, "index name");
    char *key = index_key(index, generation);
    char uuid[37];
    lh_uuid(uuid);
    char *tmp = NULL;
    int rc = lh_storage_key_check(key, err);
    if (rc) goto out;
    rc = lh_mkdir_p(tmp_dir, err);
    if (rc) goto out;
    tmp = lh_sprintf("%s/hnsw-%s.bin", tmp_dir, uuid);
    rc = lh_hnsw_save(h, tmp, err);
    if (rc) goto out;
    rc = lh_storage_put_file(s, key, tmp, err);
out:
    if (tmp) unlink(tmp);
    free(tmp);
    free(key);
    return rc;
}

int lh_hnsw_fetch(lh_storage *s, const char *index, const char *generation, const char *cache_dir,
                  lh_hnsw **out, lh_error *err)
{
    *out = NULL;
    if (!lh_name_valid(index, err)) return lh_error_wrap(err, LH_EINVAL, "index name");
    char *key = index_key(index, generation);
    char *dir = NULL, *path = NULL;
    char buf[4096];
    int rc = lh_storage_key_check(key, err);
    if (rc) goto out;
    const char *local = lh_storage_local_path(s, key, buf, sizeof buf);
    if (local && access(local, R_OK) == 0) {
        rc = lh_hnsw_load(local, true, out, err);
        goto out;
    }
    dir = lh_sprintf("%s/vectors/%s/%s", cache_dir, index, generation);
    rc = lh_mkdir_p(dir, err);
    if (rc) goto out;
    path = lh_sprintf("%s/hnsw.bin", dir);
    rc = lh_storage_get_file(s, key, path, err);
    if (rc) goto out;
    rc = lh_hnsw_load(path, true, out, err);
out:
    free(key);
    free(dir);
    free(path);
    return rc;
}
