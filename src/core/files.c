/* Small filesystem helpers. */
#define _GNU_SOURCE
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int lh_file_read(const char *path, char **out, size_t *out_len, lh_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lh_error_set(err, errno == ENOENT ? LH_ENOENT : LH_EIO, "%s: %s", path,
                            strerror(errno));
    struct stat st;
    size_t cap = 4096;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) cap = (size_t)st.st_size + 1;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return lh_error_set(err, LH_EINVAL, "%s: is a directory", path);
    }
    char *buf = lh_malloc(cap);
    size_t len = 0;
    for (;;) {
        if (len + 1 >= cap) {
            cap *= 2;
            buf = lh_realloc(buf, cap);
        }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            free(buf);
            close(fd);
            return lh_error_set(err, LH_EIO, "%s: read: %s", path, strerror(e));
        }
        if (r == 0) break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    *out = buf;
    if (out_len) *out_len = len;
    return LH_OK;
}

int lh_mkdir_p(const char *path, lh_error *err)
{
    if (!path || !*path) return lh_error_set(err, LH_EINVAL, "mkdir: empty path");
    char *p = lh_strdup(path);
    int rc = LH_OK;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char saved = *s;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            rc = lh_error_set(err, errno == EACCES ? LH_EDENIED : LH_EIO, "mkdir %s: %s", p,
                              strerror(errno));
            goto done;
        }
        *s = saved;
        if (saved == '\0') break;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        rc = lh_error_set(err, LH_EIO, "mkdir %s: exists and is not a directory", path);
done:
    free(p);
    return rc;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    int r = flag == FTW_DP ? rmdir(path) : unlink(path);
    return r != 0 && errno != ENOENT ? -1 : 0;
}

int lh_rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? LH_OK : LH_EIO;
    if (!S_ISDIR(st.st_mode)) return unlink(path) == 0 ? LH_OK : LH_EIO;
    return nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS) == 0 ? LH_OK : LH_EIO;
}

char *lh_path_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (*b == '/')
        b++;
    if (la == 0) return lh_strdup(b);
    if (la == 1 && a[0] == '/') return lh_sprintf("/%s", b);
    if (!*b) return lh_strndup(a, la);
    return lh_sprintf("%.*s/%s", (int)la, a, b);
}
