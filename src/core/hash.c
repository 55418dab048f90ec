/* SHA-256 (OpenSSL EVP), UUIDs from the OS CSPRNG, and a fast 64-bit hash (XXH64). */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

struct lh_sha256 {
    EVP_MD_CTX *ctx;
};

static void hex_encode(const unsigned char *d, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = '\0';
}

lh_sha256 *lh_sha256_new(void)
{
    lh_sha256 *h = lh_malloc(sizeof *h);
    h->ctx = EVP_MD_CTX_new();
    /* EVP_DigestInit_ex only fails on allocation failure or a broken OpenSSL install;
     * both leave the process unable to hash anything, so treat as OOM. */
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        fprintf(stderr, "lakehouse: OpenSSL SHA-256 initialisation failed\n");
        abort();
    }
    return h;
}

void lh_sha256_update(lh_sha256 *h, const void *p, size_t n)
{
    if (n) EVP_DigestUpdate(h->ctx, p, n);
}

void lh_sha256_final(lh_sha256 *h, char out[LH_SHA256_HEX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(h->ctx, md, &len);
    hex_encode(md, len, out);
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void lh_sha256_hex(const void *p, size_t n, char out[LH_SHA256_HEX])
{
    lh_sha256 *h = lh_sha256_new();
    lh_sha256_update(h, p, n);
    lh_sha256_final(h, out);
}

int lh_sha256_file(const char *path, char out[LH_SHA256_HEX], lh_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lh_error_set(err, errno == ENOENT ? LH_ENOENT : LH_EIO, "%s: %s", path,
                            strerror(errno));
    lh_sha256 *h = lh_sha256_new();
    char *buf = lh_malloc(1 << 16);
    int rc = LH_OK;
    for (;;) {
        ssize_t r = read(fd, buf, 1 << 16);
        if (r < 0) {
            if (errno == EINTR) continue;
            rc = lh_error_set(err, LH_EIO, "%s: read: %s", path, strerror(errno));
            break;
        }
        if (r == 0) break;
        lh_sha256_update(h, buf, (size_t)r);
    }
    free(buf);
    close(fd);
    char tmp[LH_SHA256_HEX];
    lh_sha256_final(h, tmp);
    if (rc == LH_OK) memcpy(out, tmp, LH_SHA256_HEX);
    return rc;
}

void lh_uuid(char out[37])
{
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t r = getrandom(b + got, sizeof b - got, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            break;
        }
        got += (size_t)r;
    }
    if (got < sizeof b && RAND_bytes(b, sizeof b) != 1) {
        fprintf(stderr, "lakehouse: no source of randomness for UUIDs\n");
        abort();
    }
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80); /* RFC 4122 variant */
    char hex[33];
    hex_encode(b, 16, hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

/* XXH64 (public domain algorithm by Yann Collet): fast, well distributed, stable across
 * platforms (reads are little-endian). */
#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t rd64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline uint32_t rd32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

static inline uint64_t xxh_round(uint64_t acc, uint64_t in)
{
    acc += in * P2;
    acc = rotl64(acc, 31);
    return acc * P1;
}

static inline uint64_t xxh_merge(uint64_t acc, uint64_t v)
{
    acc ^= xxh_round(0, v);
    return acc * P1 + P4;
}

uint64_t lh_hash64(const void *data, size_t n, uint64_t seed)
{
    const unsigned char *p = data;
    const unsigned char *end = p + n;
    uint64_t h;
    if (n >= 32) {
        uint64_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
        const unsigned char *limit = end - 32;
        do {
            v1 = xxh_round(v1, rd64(p));
            v2 = xxh_round(v2, rd64(p + 8));
            v3 = xxh_round(v3, rd64(p + 16));
            v4 = xxh_round(v4, rd64(p + 24));
            p += 32;
        } while (p <= limit);
        h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
        h = xxh_merge(h, v1);
        h = xxh_merge(h, v2);
        h = xxh_merge(h, v3);
        h = xxh_merge(h, v4);
    } else {
        h = seed + P5;
    }
    h += (uint64_t)n;
    while (p + 8 <= end) {
        h ^= xxh_round(0, rd64(p));
        h = rotl64(h, 27) * P1 + P4;
        p += 8;
    }
    if (p + 4 <= end) {
        h ^= (uint64_t)rd32(p) * P1;
        h = rotl64(h, 23) * P2 + P3;
        p += 4;
    }
    while (p < end) {
        h ^= (*p) * P5;
        h = rotl64(h, 11) * P1;
        p++;
    }
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}
