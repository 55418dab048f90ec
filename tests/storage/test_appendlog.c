/* storage: the write-once AppendLog and the error journal (ring, persistence, filters). */
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
#include "testutil.h"

typedef struct {
    char *dir;
    lh_storage *st;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = tu_tmpdir("appendlog");
    lh_error err;
    if (lh_storage_open_local(f->dir, &f->st, &err) != LH_OK) return -1;
    lh_storage_errors_reset();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    lh_storage_errors_detach();
    lh_storage_errors_reset();
    lh_storage_close(f->st);
    tu_rmdir(f->dir);
    free(f);
    return 0;
}

typedef struct {
    char lines[64][64];
    int n;
} collected;

static int collect(void *ctx, const char *line, size_t n)
{
    collected *c = ctx;
    if (c->n < 64) snprintf(c->lines[c->n++], 64, "%.*s", (int)n, line);
    return 0;
}

static size_t batches(lh_storage *st, const char *prefix)
{
    lh_object_list l;
    lh_error err;
    assert_int_equal(lh_storage_list_all(st, prefix, &l, &err), LH_OK);
    size_t n = l.count;
    for (size_t i = 0; i < l.count; i++) {
        assert_non_null(strstr(l.items[i].key, "/batch_"));
        assert_non_null(strstr(l.items[i].key, ".jsonl"));
    }
    lh_storage_list_free(&l);
    return n;
}

static void test_appendlog_writes_new_batches_and_reads_them_in_order(void **state)
{
    fixture *f = *state;
    lh_appendlog *l;
    lh_error err;
    assert_int_equal(lh_appendlog_open(f->st, "_trials/ix/", 40, 60000, &l, &err), LH_OK);
    char line[32];
    for (int i = 0; i < 10; i++) {
        snprintf(line, sizeof line, "{\"n\":%d}", i); /* 7-8 bytes + newline */
        assert_int_equal(lh_appendlog_append(l, line, strlen(line), &err), LH_OK);
    }
    /* Size triggers: 10 lines of ~9 bytes in batches of >= 40 bytes. */
    size_t by_size = batches(f->st, "_trials/ix/");
    assert_true(by_size >= 2);
    assert_int_equal(lh_appendlog_flush(l, &err), LH_OK);
    assert_int_equal(lh_appendlog_flush(l, &err), LH_OK); /* nothing pending: no object */
    size_t after = batches(f->st, "_trials/ix/");
    assert_true(after == by_size || after == by_size + 1);
    assert_int_equal(lh_appendlog_append(l, "{\"n\":10}", 8, &err), LH_OK);
    lh_appendlog_close(l); /* close flushes */
    collected c = {0};
    assert_int_equal(lh_appendlog_read(f->st, "_trials/ix/", 0, collect, &c, &err), LH_OK);
    assert_int_equal(c.n, 11);
    for (int i = 0; i < 11; i++) {
        snprintf(line, sizeof line, "{\"n\":%d}", i);
        assert_string_equal(c.lines[i], line);
    }
    /* since: batches written before it are skipped. */
    collected none = {0};
    assert_int_equal(
        lh_appendlog_read(f->st, "_trials/ix/", lh_wall_us() + 1000000, collect, &none, &err),
        LH_OK);
    assert_int_equal(none.n, 0);
}

static void test_appendlog_flushes_by_age(void **state)
{
    fixture *f = *state;
    lh_appendlog *l;
    lh_error err;
    assert_int_equal(lh_appendlog_open(f->st, "_audit/d/", 1 << 20, 50, &l, &err), LH_OK);
    assert_int_equal(lh_appendlog_append(l, "old", 3, &err), LH_OK);
    /* Wait (bounded) for the age thread; no timing is asserted, only that it happens. */
    for (int i = 0; i < 200 && batches(f->st, "_audit/d/") == 0; i++)
        usleep(20 * 1000);
    assert_int_equal(batches(f->st, "_audit/d/"), 1);
    lh_appendlog_close(l);
    assert_int_equal(batches(f->st, "_audit/d/"), 1);
}

static void test_appendlog_refuses_bad_input_and_keeps_events_when_writes_fail(void **state)
{
    fixture *f = *state;
    lh_appendlog *l;
    lh_error err;
    assert_int_equal(lh_appendlog_open(f->st, "no-slash", 0, 0, &l, &err), LH_EINVAL);
    assert_int_equal(lh_appendlog_open(f->st, "../x/", 0, 0, &l, &err), LH_EINVAL);
    /* A store whose every call fails from the first on: events stay pending. */
    char *d2 = tu_tmpdir("appendlog-faulty");
    lh_storage *inner;
    assert_int_equal(lh_storage_open_local(d2, &inner, &err), LH_OK);
    lh_storage *bad = lh_storage_faulty(inner, 1, true);
    assert_int_equal(lh_appendlog_open(bad, "_x/", 0, 60000, &l, &err), LH_OK);
    assert_int_equal(lh_appendlog_append(l, "two\nlines", 9, &err), LH_EINVAL);
    assert_int_equal(lh_appendlog_append(l, "e1", 2, &err), LH_OK);
    assert_int_equal(lh_appendlog_flush(l, &err), LH_EIO);
    assert_non_null(strstr(err.msg, "injected fault"));
    assert_int_equal(lh_appendlog_dropped(l), 0);
    lh_appendlog_close(l); /* logs the failed final flush */
    lh_storage_close(bad);
    tu_rmdir(d2);
}

static lh_storage_error_event ev(const char *bucket, const char *op, int status, int64_t t)
{
    lh_storage_error_event e = {0};
    e.time_us = t;
    snprintf(e.bucket, sizeof e.bucket, "%s", bucket);
    snprintf(e.op, sizeof e.op, "%s", op);
    snprintf(e.key, sizeof e.key, "data/x.parquet");
    e.status = status;
    e.code = LH_EUNAVAIL;
    e.attempts = 3;
    snprintf(e.message, sizeof e.message, "HTTP %d", status);
    return e;
}

static void test_error_journal_ring_filters_and_persists(void **state)
{
    fixture *f = *state;
    lh_error err;
    assert_int_equal(lh_storage_errors_attach(f->st, &err), LH_OK);
    int64_t t0 = lh_wall_us();
    lh_storage_error_event a = ev("primary", "get", 503, t0);
    lh_storage_error_event b = ev("primary", "put", 500, t0 + 10);
    lh_storage_error_event c = ev("rescue", "get", 0, t0 + 20);
    lh_storage_errors_record(&a);
    lh_storage_errors_record(&b);
    lh_storage_errors_record(&c);
    lh_storage_error_event *out;
    size_t n;
    lh_storage_errors_query(NULL, NULL, 0, 0, &out, &n);
    assert_int_equal(n, 3);
    free(out);
    lh_storage_errors_query("primary", NULL, 0, 0, &out, &n);
    assert_int_equal(n, 2);
    free(out);
    lh_storage_errors_query(NULL, "get", t0 + 5, 0, &out, &n);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].bucket, "rescue");
    free(out);
    lh_storage_errors_query(NULL, NULL, 0, t0 + 10, &out, &n);
    assert_int_equal(n, 2);
    free(out);

    /* Detach writes them under _errors/bucket_errors/; a new process loads them back. */
    lh_storage_errors_detach();
    assert_int_equal(batches(f->st, "_errors/bucket_errors/"), 1);
    lh_storage_errors_reset();
    assert_int_equal(lh_storage_errors_attach(f->st, &err), LH_OK);
    lh_storage_errors_query("primary", "put", 0, 0, &out, &n);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].status, 500);
    assert_int_equal(out[0].attempts, 3);
    assert_int_equal(out[0].code, LH_EUNAVAIL);
    assert_true(out[0].time_us == t0 + 10);
    free(out);
}

static void test_error_journal_keeps_the_last_2000(void **state)
{
    for (int i = 0; i < 2100; i++) {
        lh_storage_error_event e = ev("primary", "head", 503, 1000 + i);
        lh_storage_errors_record(&e);
    }
    lh_storage_error_event *out;
    size_t n;
    lh_storage_errors_query(NULL, NULL, 0, 0, &out, &n);
    assert_int_equal(n, 2000);
    assert_true(out[0].time_us == 1100);
    assert_true(out[1999].time_us == 3099);
    free(out);
}

static void test_journaled_store_records_failures_not_answers(void **state)
{
    fixture *f = *state;
    lh_error err;
    lh_storage *inner;
    char *d2 = tu_tmpdir("journaled");
    assert_int_equal(lh_storage_open_local(d2, &inner, &err), LH_OK);
    lh_storage *st = lh_storage_journaled(lh_storage_faulty(inner, 3, false), "primary");
    assert_string_equal(lh_storage_backend(st), "faulty");
    lh_object_info info;
    assert_int_equal(lh_storage_head(st, "absent", &info, &err), LH_ENOENT); /* an answer */
    assert_int_equal(lh_storage_put_if_absent(st, "k", "1", 1, &err), LH_OK);
    assert_int_equal(lh_storage_put_if_absent(st, "k", "1", 1, &err), LH_EIO); /* call 3 */
    assert_int_equal(lh_storage_put_if_absent(st, "k", "1", 1, &err), LH_EEXIST);
    lh_storage_error_event *out;
    size_t n;
    lh_storage_errors_query(NULL, NULL, 0, 0, &out, &n);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].bucket, "primary");
    assert_string_equal(out[0].op, "put_if_absent");
    assert_string_equal(out[0].key, "k");
    assert_int_equal(out[0].code, LH_EIO);
    assert_non_null(strstr(out[0].message, "injected fault"));
    free(out);
    lh_storage_close(st);
    tu_rmdir(d2);
    (void)f;
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_appendlog_writes_new_batches_and_reads_them_in_order),
        T(test_appendlog_flushes_by_age),
        T(test_appendlog_refuses_bad_input_and_keeps_events_when_writes_fail),
        T(test_error_journal_ring_filters_and_persists),
        T(test_error_journal_keeps_the_last_2000),
        T(test_journaled_store_records_failures_not_answers),
    };
    return cmocka_run_group_tests_name("storage: append log and error journal", tests, NULL, NULL);
}
