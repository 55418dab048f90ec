/* catalog: lh_catalog_update under contention from two processes loses nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "catalog/catalog.h"

#define WRITERS 2
#define APPENDS 20

typedef struct {
    int writer;
    int n;
} append_ctx;

static int append(void *vctx, const lh_manifest *cur, lh_manifest **next, lh_error *err)
{
    append_ctx *c = vctx;
    *next = cur ? lh_manifest_clone(cur) : lh_manifest_new("events");
    if (!cur) lh_manifest_add_column(*next, "id", "BIGINT", false);
    char key[64];
    snprintf(key, sizeof key, "data/events/w%d-%02d.parquet", c->writer, c->n);
    lh_manifest_add_file(*next, key, 100, 10);
    free((*next)->op);
    (*next)->op = strdup("append");
    return LH_OK;
}

static void writer(const char *root, int id, int go_fd)
{
    lh_storage *st;
    lh_catalog *cat;
    lh_error err;
    if (lh_storage_open_local(root, &st, &err) || lh_catalog_open(st, &cat, &err)) _exit(2);
    char c;
    if (read(go_fd, &c, 1) != 0) _exit(3);
    lh_identity who = {"default", id ? "writer1" : "writer0"};
    for (int i = 0; i < APPENDS; i++) {
        append_ctx ctx = {id, i};
        int64_t v;
        if (lh_catalog_update(cat, &who, "events", append, &ctx, &v, &err) != LH_OK) {
            fprintf(stderr, "writer %d append %d: %s\n", id, i, err.msg);
            _exit(4);
        }
    }
    lh_catalog_close(cat);
    lh_storage_close(st);
    _exit(0);
}

static void test_catalog_update_two_processes_twenty_appends_each(void **state)
{
    char root[128];
    snprintf(root, sizeof root, "/tmp/lh_test_catalog_race_%d", (int)getpid());
    lh_rm_rf(root);
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t pids[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(go[1]);
            writer(root, i, go[0]);
        }
    }
    close(go[0]);
    close(go[1]);
    for (int i = 0; i < WRITERS; i++) {
        int status;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }

    lh_storage *st;
    lh_catalog *cat;
    lh_error err;
    assert_int_equal(lh_storage_open_local(root, &st, &err), LH_OK);
    assert_int_equal(lh_catalog_open(st, &cat, &err), LH_OK);
    int64_t *versions;
    size_t n;
    assert_int_equal(lh_catalog_versions(cat, NULL, "events", &versions, &n, &err), LH_OK);
    assert_int_equal(n, WRITERS * APPENDS);
    for (size_t i = 0; i < n; i++)
        assert_true(versions[i] == (int64_t)i + 1); /* contiguous */
    free(versions);

    lh_manifest *m;
    assert_int_equal(lh_catalog_get(cat, NULL, "events", 0, &m, &err), LH_OK);
    assert_true(m->version == WRITERS * APPENDS);
    assert_int_equal(m->nfiles, WRITERS * APPENDS);
    assert_true(m->rows == WRITERS * APPENDS * 10);
    /* Every append is there exactly once, each writer's in its own order. */
    for (int w = 0; w < WRITERS; w++) {
        int last = -1;
        for (int i = 0; i < APPENDS; i++) {
            char key[64];
            snprintf(key, sizeof key, "data/events/w%d-%02d.parquet", w, i);
            int found = -1;
            for (size_t k = 0; k < m->nfiles; k++)
                if (strcmp(m->files[k].key, key) == 0) {
                    assert_int_equal(found, -1);
                    found = (int)k;
                }
            assert_true(found > last);
            last = found;
            assert_true(m->files[found].added_version == found + 1);
        }
    }
    lh_manifest_free(m);
    /* Each intermediate version is complete: version v holds exactly v files. */
    for (int64_t v = 1; v <= WRITERS * APPENDS; v++) {
        assert_int_equal(lh_catalog_get(cat, NULL, "events", v, &m, &err), LH_OK);
        assert_int_equal(m->nfiles, (size_t)v);
        lh_manifest_free(m);
    }
    lh_catalog_close(cat);
    lh_storage_close(st);
    lh_rm_rf(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog_update_two_processes_twenty_appends_each),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
