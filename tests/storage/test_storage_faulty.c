/* storage: the fault-injection wrapper and dispatch to a minimal custom backend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "storage/storage.h"

static char root[128];

static lh_storage *open_local(void)
{
    lh_storage *st;
    lh_error err;
    snprintf(root, sizeof root, "/tmp/lh_test_faulty_%d", (int)getpid());
    lh_rm_rf(root);
    assert_int_equal(lh_storage_open_local(root, &st, &err), LH_OK);
    return st;
}

static void test_faulty_fails_only_the_nth_call(void **state)
{
    lh_storage *st = lh_storage_faulty(open_local(), 3, false);
    lh_error err;
    assert_int_equal(lh_storage_put(st, "a", "1", 1, &err), LH_OK);  /* call 1 */
    assert_int_equal(lh_storage_put(st, "b", "2", 1, &err), LH_OK);  /* call 2 */
    assert_int_equal(lh_storage_put(st, "c", "3", 1, &err), LH_EIO); /* call 3 */
    assert_non_null(strstr(err.msg, "injected fault: call 3 (put 'c')"));
    assert_int_equal(lh_storage_put(st, "c", "3", 1, &err), LH_OK); /* call 4 */
    char *out;
    size_t n;
    assert_int_equal(lh_storage_get(st, "c", &out, &n, &err), LH_OK);
    assert_string_equal(out, "3");
    free(out);
    char buf[256];
    assert_non_null(lh_storage_local_path(st, "c", buf, sizeof buf)); /* passes through */
    lh_storage_close(st);
    lh_rm_rf(root);
}

static void test_faulty_every_after_fails_all_later_calls(void **state)
{
    lh_storage *st = lh_storage_faulty(open_local(), 2, true);
    lh_error err;
    lh_object_info info;
    lh_object_list l;
    char *out;
    size_t n;
    assert_int_equal(lh_storage_put_if_absent(st, "a", "1", 1, &err), LH_OK);
    assert_int_equal(lh_storage_get(st, "a", &out, &n, &err), LH_EIO);
    assert_null(out);
    assert_int_equal(lh_storage_head(st, "a", &info, &err), LH_EIO);
    assert_int_equal(lh_storage_list(st, "", NULL, 0, &l, &err), LH_EIO);
    assert_int_equal(l.count, 0);
    assert_null(l.items);
    assert_int_equal(lh_storage_list_all(st, "", &l, &err), LH_EIO);
    assert_int_equal(lh_storage_delete(st, "a", &err), LH_EIO);
    assert_int_equal(lh_storage_put_file(st, "b", "/etc/hostname", &err), LH_EIO);
    assert_int_equal(lh_storage_get_file(st, "a", "/tmp/never", &err), LH_EIO);
    /* Invalid keys are refused before they count as calls. */
    assert_int_equal(lh_storage_put(st, "../x", "1", 1, &err), LH_EINVAL);
    lh_storage_close(st);
    lh_rm_rf(root);
}

/* A one-object in-memory backend with only put/get: exercises the generic fallbacks. */
typedef struct {
    char *key;
    char *data;
    size_t n;
} mem1;

static int m_put(void *self, const char *key, const void *data, size_t n, lh_error *err)
{
    mem1 *m = self;
    free(m->key);
    free(m->data);
    m->key = strdup(key);
    m->data = malloc(n + 1);
    memcpy(m->data, data, n);
    m->n = n;
    return LH_OK;
}

static int m_get(void *self, const char *key, int64_t off, int64_t len, char **out, size_t *out_len,
                 lh_error *err)
{
    mem1 *m = self;
    if (!m->key || strcmp(key, m->key) != 0)
        return lh_error_set(err, LH_ENOENT, "object '%s' not found", key);
    *out = malloc(m->n + 1);
    memcpy(*out, m->data, m->n);
    (*out)[m->n] = '\0';
    *out_len = m->n;
    return LH_OK;
}

static void m_close(void *self)
{
    mem1 *m = self;
    free(m->key);
    free(m->data);
    free(m);
}

static const lh_storage_ops mem1_ops = {
    .name = "mem1", .put = m_put, .get = m_get, .close = m_close};

static void test_wrap_dispatch_fallbacks_and_unsupported(void **state)
{
    lh_storage *st = lh_storage_wrap(&mem1_ops, calloc(1, sizeof(mem1)));
    lh_error err;
    assert_string_equal(lh_storage_backend(st), "mem1");
    char src[64], dst[64];
    snprintf(src, sizeof src, "/tmp/lh_test_mem1_%d.src", (int)getpid());
    snprintf(dst, sizeof dst, "/tmp/lh_test_mem1_%d.dst", (int)getpid());
    FILE *f = fopen(src, "w");
    fputs("payload", f);
    fclose(f);
    assert_int_equal(lh_storage_put_file(st, "obj", src, &err), LH_OK);
    assert_int_equal(lh_storage_get_file(st, "obj", dst, &err), LH_OK);
    char *out;
    size_t n;
    assert_int_equal(lh_file_read(dst, &out, &n, &err), LH_OK);
    assert_string_equal(out, "payload");
    free(out);
    assert_int_equal(lh_storage_put_if_absent(st, "obj", "x", 1, &err), LH_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "mem1"));
    lh_object_list l;
    assert_int_equal(lh_storage_list(st, "", NULL, 0, &l, &err), LH_EUNSUPPORTED);
    char buf[64];
    assert_null(lh_storage_local_path(st, "obj", buf, sizeof buf));
    lh_storage_close(st);
    lh_storage_close(NULL);
    unlink(src);
    unlink(dst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_faulty_fails_only_the_nth_call),
        cmocka_unit_test(test_faulty_every_after_fails_all_later_calls),
        cmocka_unit_test(test_wrap_dispatch_fallbacks_and_unsupported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
