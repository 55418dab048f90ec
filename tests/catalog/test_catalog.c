/* catalog: manifests, commit/get/versions, conflicts, validation, corrupt data. */
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

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

typedef struct {
    char root[128];
    lh_storage *st;
    lh_catalog *cat;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->root, sizeof f->root, "/tmp/lh_test_catalog_%d_%llx", (int)getpid(),
             (unsigned long long)lh_now_ns());
    lh_error err;
    if (lh_storage_open_local(f->root, &f->st, &err) != LH_OK ||
        lh_catalog_open(f->st, &f->cat, &err) != LH_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    lh_catalog_close(f->cat);
    lh_storage_close(f->st);
    lh_rm_rf(f->root);
    free(f);
    return 0;
}

static const lh_identity who = {"analysts", "test"};

static void commit_ok(lh_catalog *cat, lh_manifest *m)
{
    lh_error err;
    lh_error_clear(&err);
    if (lh_catalog_commit(cat, &who, m, &err) != LH_OK)
        fail_msg("commit %s v%lld: %s", m->dataset, (long long)m->version, err.msg);
}

static void test_manifest_json_round_trip(void **state)
{
    lh_manifest *m = lh_manifest_new("candidates");
    m->version = 3;
    lh_manifest_add_column(m, "id", "BIGINT", false);
    lh_manifest_add_column(m, "skills", "VARCHAR[]", true);
    lh_manifest_add_file(m, "data/candidates/a.parquet", 100, 10);
    lh_manifest_add_file(m, "data/candidates/b.parquet", 50, 5);
    lh_manifest_add_source(m, SHA_A, "candidates.csv", 999, 15);
    json_object_set_new(m->metadata, "owner", json_string("staffing"));
    assert_true(m->rows == 15 && m->bytes == 150);

    json_t *j = lh_manifest_to_json(m);
    assert_int_equal(json_integer_value(json_object_get(j, "format")), 1);
    lh_manifest *back;
    lh_error err;
    assert_int_equal(lh_manifest_from_json(j, &back, &err), LH_OK);
    json_decref(j);
    assert_string_equal(back->dataset, "candidates");
    assert_true(back->version == 3);
    assert_int_equal(back->ncolumns, 2);
    assert_string_equal(back->columns[1].type, "VARCHAR[]");
    assert_false(back->columns[0].nullable);
    assert_true(back->columns[1].nullable);
    assert_int_equal(back->nfiles, 2);
    assert_string_equal(back->files[1].key, "data/candidates/b.parquet");
    assert_true(back->files[1].added_version == 3); /* provisional until committed */
    assert_int_equal(back->nsources, 1);
    assert_non_null(lh_manifest_find_source(back, SHA_A));
    assert_null(lh_manifest_find_source(back, SHA_B));
    assert_string_equal(json_string_value(json_object_get(back->metadata, "owner")), "staffing");

    lh_manifest *copy = lh_manifest_clone(back);
    lh_manifest_free(back);
    assert_string_equal(copy->files[0].key, "data/candidates/a.parquet");
    assert_string_equal(json_string_value(json_object_get(copy->metadata, "owner")), "staffing");
    lh_manifest_free(copy);
    lh_manifest_free(m);
    lh_manifest_free(NULL);
}

static void test_manifest_from_json_names_bad_field(void **state)
{
    lh_manifest *m = lh_manifest_new("ds");
    m->version = 2;
    lh_manifest_add_column(m, "id", "BIGINT", false);
    lh_manifest_add_file(m, "data/ds/a.parquet", 1, 1);
    lh_manifest_add_source(m, SHA_A, "a.csv", 1, 1);
    struct {
        const char *path; /* JSON pointer-ish: object key or array/field */
        json_t *value;
        int code;
        const char *needle;
    } cases[] = {
        {"version", json_string("2"), LH_ECORRUPT, "'version': expected an integer"},
        {"rows", json_integer(-1), LH_ECORRUPT, "'rows': -1 is below"},
        {"dataset", json_string("Bad Name"), LH_ECORRUPT, "'dataset'"},
        {"columns", json_object(), LH_ECORRUPT, "'columns': expected an array"},
        {"metadata", json_array(), LH_ECORRUPT, "'metadata': expected an object"},
        {"format", json_integer(2), LH_EUNSUPPORTED, "format 2"},
        {"format", NULL, LH_ECORRUPT, "'format': missing"},
        {"files[0].rows", json_string("x"), LH_ECORRUPT, "'files[0].rows'"},
        {"files[0].key", json_string("../etc/passwd"), LH_ECORRUPT, "'files[0].key'"},
        {"files[0].added_version", json_integer(9), LH_ECORRUPT, "later than"},
        {"columns[0].nullable", json_string("no"), LH_ECORRUPT, "'columns[0].nullable'"},
        {"columns[0].name", json_string(""), LH_ECORRUPT, "'columns[0].name': is empty"},
        {"sources[0].sha256", json_string("xyz"), LH_ECORRUPT, "'sources[0].sha256'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = lh_manifest_to_json(m);
        const char *p = cases[i].path;
        char arr[32], field[32];
        size_t idx;
        if (sscanf(p, "%31[a-z][%zu].%31[a-z_0-9]", arr, &idx, field) == 3) {
            json_t *elem = json_array_get(json_object_get(j, arr), idx);
            json_object_set_new(elem, field, cases[i].value);
        } else if (cases[i].value) {
            json_object_set_new(j, p, cases[i].value);
        } else {
            json_object_del(j, p);
        }
        lh_manifest *out = (lh_manifest *)0x1;
        lh_error err;
        lh_error_clear(&err);
        assert_int_equal(lh_manifest_from_json(j, &out, &err), cases[i].code);
        assert_null(out);
        if (!strstr(err.msg, cases[i].needle))
            fail_msg("case %zu: message '%s' lacks '%s'", i, err.msg, cases[i].needle);
        json_decref(j);
    }
    lh_manifest_free(m);
}

static void test_catalog_commit_get_versions(void **state)
{
    fixture *f = *state;
    lh_error err;
    lh_manifest *m = lh_manifest_new("candidates");
    m->version = 1;
    lh_manifest_add_column(m, "id", "BIGINT", false);
    lh_manifest_add_file(m, "data/candidates/a.parquet", 100, 10);
    lh_manifest_add_source(m, SHA_A, "a.csv", 500, 10);
    commit_ok(f->cat, m);
    assert_string_equal(m->actor, "test");
    assert_string_equal(m->profile, "analysts");
    assert_true(m->updated_us > 0);

    lh_manifest *m2 = lh_manifest_clone(m);
    m2->version = 2;
    lh_manifest_add_file(m2, "data/candidates/b.parquet", 40, 4);
    lh_manifest_add_source(m2, SHA_B, "b.csv", 200, 4);
    free(m2->op);
    m2->op = strdup("append");
    commit_ok(f->cat, m2);

    lh_manifest *got;
    assert_int_equal(lh_catalog_get(f->cat, &who, "candidates", 0, &got, &err), LH_OK);
    assert_true(got->version == 2);
    assert_true(got->rows == 14 && got->bytes == 140);
    assert_true(got->files[0].added_version == 1);
    assert_true(got->files[1].added_version == 2);
    assert_true(got->sources[0].version == 1);
    assert_true(got->sources[1].version == 2);
    assert_true(got->created_us == m->created_us);
    assert_true(got->schema_version == 1); /* same columns */
    assert_string_equal(got->op, "append");
    lh_manifest_free(got);

    assert_int_equal(lh_catalog_get(f->cat, &who, "candidates", 1, &got, &err), LH_OK);
    assert_true(got->version == 1);
    assert_int_equal(got->nfiles, 1);
    lh_manifest_free(got);

    /* The stored key has 8 zero-padded digits. */
    lh_object_info info;
    assert_int_equal(lh_storage_head(f->st, "_catalog/candidates/v00000002.json", &info, &err),
                     LH_OK);

    int64_t *versions;
    size_t n;
    assert_int_equal(lh_catalog_versions(f->cat, &who, "candidates", &versions, &n, &err), LH_OK);
    assert_int_equal(n, 2);
    assert_true(versions[0] == 1 && versions[1] == 2);
    free(versions);

    /* A new column bumps the schema version. */
    lh_manifest *m3 = lh_manifest_clone(m2);
    m3->version = 3;
    lh_manifest_add_column(m3, "name", "VARCHAR", true);
    commit_ok(f->cat, m3);
    assert_true(m3->schema_version == 2);

    assert_int_equal(lh_catalog_get(f->cat, &who, "candidates", 9, &got, &err), LH_ENOENT);
    assert_non_null(strstr(err.msg, "version 9"));
    assert_int_equal(lh_catalog_get(f->cat, &who, "nobody", 0, &got, &err), LH_ENOENT);
    assert_non_null(strstr(err.msg, "dataset 'nobody' not found"));
    assert_int_equal(lh_catalog_versions(f->cat, &who, "nobody", &versions, &n, &err), LH_ENOENT);
    lh_manifest_free(m);
    lh_manifest_free(m2);
    lh_manifest_free(m3);
}

static void test_catalog_commit_conflict_same_version(void **state)
{
    fixture *f = *state;
    lh_error err;
    lh_manifest *a = lh_manifest_new("orders");
    lh_manifest *b = lh_manifest_new("orders");
    a->version = b->version = 1;
    lh_manifest_add_file(a, "data/orders/a.parquet", 1, 1);
    lh_manifest_add_file(b, "data/orders/b.parquet", 2, 2);
    commit_ok(f->cat, a);
    assert_int_equal(lh_catalog_commit(f->cat, &who, b, &err), LH_ECONFLICT);
    assert_string_equal(err.msg, "dataset 'orders': version 1 was committed by another writer");
    lh_manifest *got;
    assert_int_equal(lh_catalog_get(f->cat, &who, "orders", 0, &got, &err), LH_OK);
    assert_string_equal(got->files[0].key, "data/orders/a.parquet"); /* the winner's */
    lh_manifest_free(got);
    /* Skipping a version is refused. */
    b->version = 3;
    assert_int_equal(lh_catalog_commit(f->cat, &who, b, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "version 2 does not exist"));
    lh_manifest_free(a);
    lh_manifest_free(b);
}

#define RACERS 8

static void test_catalog_commit_race_forked_exactly_one_wins(void **state)
{
    fixture *f = *state;
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t pids[RACERS];
    for (int i = 0; i < RACERS; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            close(go[1]);
            lh_storage *st;
            lh_catalog *cat;
            lh_error err;
            if (lh_storage_open_local(f->root, &st, &err) || lh_catalog_open(st, &cat, &err))
                _exit(2);
            char c;
            if (read(go[0], &c, 1) != 0) _exit(3);
            lh_manifest *m = lh_manifest_new("race");
            m->version = 1;
            char key[64];
            snprintf(key, sizeof key, "data/race/%d.parquet", i);
            lh_manifest_add_file(m, key, 1, 1);
            int rc = lh_catalog_commit(cat, &who, m, &err);
            lh_manifest_free(m);
            lh_catalog_close(cat);
            lh_storage_close(st);
            _exit(rc == LH_OK ? 10 : rc == LH_ECONFLICT ? 11 : 12);
        }
    }
    close(go[0]);
    close(go[1]); /* EOF releases every child at once */
    int wins = 0, losses = 0;
    for (int i = 0; i < RACERS; i++) {
        int status;
        waitpid(pids[i], &status, 0);
        assert_true(WIFEXITED(status));
        wins += WEXITSTATUS(status) == 10;
        losses += WEXITSTATUS(status) == 11;
    }
    assert_int_equal(wins, 1);
    assert_int_equal(losses, RACERS - 1);
}

static void test_catalog_names_validated(void **state)
{
    fixture *f = *state;
    lh_error err;
    lh_manifest *got;
    const char *bad[] = {"../x", "", "Upper", "a-b", "a/b", "9x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(lh_catalog_get(f->cat, &who, bad[i], 0, &got, &err), LH_EINVAL);
        assert_non_null(strstr(err.msg, "dataset"));
        lh_manifest *m = lh_manifest_new(bad[i]);
        m->version = 1;
        assert_int_equal(lh_catalog_commit(f->cat, &who, m, &err), LH_EINVAL);
        lh_manifest_free(m);
    }
    /* Bad contents are refused before anything is written. */
    lh_manifest *m = lh_manifest_new("ok");
    m->version = 1;
    lh_manifest_add_file(m, "../outside.parquet", 1, 1);
    assert_int_equal(lh_catalog_commit(f->cat, &who, m, &err), LH_EINVAL);
    lh_manifest_free(m);
    m = lh_manifest_new("ok");
    m->version = 1;
    lh_manifest_add_column(m, "a", "BIGINT", true);
    lh_manifest_add_column(m, "a", "BIGINT", true);
    assert_int_equal(lh_catalog_commit(f->cat, &who, m, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "twice"));
    lh_manifest_free(m);
    assert_int_equal(lh_catalog_get(f->cat, &who, "ok", 0, &got, &err), LH_ENOENT);
}

static void test_catalog_corrupt_manifest(void **state)
{
    fixture *f = *state;
    lh_error err;
    lh_manifest *m = lh_manifest_new("broken");
    m->version = 1;
    commit_ok(f->cat, m);
    lh_manifest_free(m);
    /* Garbage JSON as version 2. */
    const char *junk = "{\"format\": 1, \"dataset\": ";
    assert_int_equal(
        lh_storage_put(f->st, "_catalog/broken/v00000002.json", junk, strlen(junk), &err), LH_OK);
    lh_manifest *got;
    assert_int_equal(lh_catalog_get(f->cat, &who, "broken", 0, &got, &err), LH_ECORRUPT);
    assert_non_null(strstr(err.msg, "_catalog/broken/v00000002.json"));
    /* Valid JSON, bad field. */
    const char *bad = "{\"format\": 1, \"dataset\": \"broken\", \"version\": \"two\"}";
    assert_int_equal(
        lh_storage_put(f->st, "_catalog/broken/v00000002.json", bad, strlen(bad), &err), LH_OK);
    assert_int_equal(lh_catalog_get(f->cat, &who, "broken", 2, &got, &err), LH_ECORRUPT);
    assert_non_null(strstr(err.msg, "_catalog/broken/v00000002.json"));
    assert_non_null(strstr(err.msg, "'version'"));
    /* A manifest stored under the wrong key. */
    lh_manifest *other = lh_manifest_new("other");
    other->version = 2;
    json_t *j = lh_manifest_to_json(other);
    char *text = json_dumps(j, 0);
    assert_int_equal(
        lh_storage_put(f->st, "_catalog/broken/v00000002.json", text, strlen(text), &err), LH_OK);
    assert_int_equal(lh_catalog_get(f->cat, &who, "broken", 2, &got, &err), LH_ECORRUPT);
    assert_non_null(strstr(err.msg, "manifest says dataset 'other'"));
    free(text);
    json_decref(j);
    lh_manifest_free(other);
}

static void test_catalog_list_datasets_sorted(void **state)
{
    fixture *f = *state;
    lh_error err;
    const char *names[] = {"timesheets", "a_b", "a", "candidates", "a0"};
    for (size_t i = 0; i < 5; i++) {
        lh_manifest *m = lh_manifest_new(names[i]);
        m->version = 1;
        commit_ok(f->cat, m);
        m->version = 2;
        commit_ok(f->cat, m);
        lh_manifest_free(m);
    }
    /* Stray objects under _catalog/ are not datasets. */
    assert_int_equal(lh_storage_put(f->st, "_catalog/README", "x", 1, &err), LH_OK);
    assert_int_equal(lh_storage_put(f->st, "_catalog/zz/notes.txt", "x", 1, &err), LH_OK);
    char **out;
    size_t n;
    assert_int_equal(lh_catalog_list(f->cat, &who, &out, &n, &err), LH_OK);
    assert_int_equal(n, 5);
    const char *want[] = {"a", "a0", "a_b", "candidates", "timesheets"};
    for (size_t i = 0; i < n; i++)
        assert_string_equal(out[i], want[i]);
    lh_catalog_names_free(out, n);
    assert_ptr_equal(lh_catalog_storage(f->cat), f->st);
}

typedef struct {
    int calls;
    bool nothing;
} upd_ctx;

static int add_one_file(void *vctx, const lh_manifest *cur, lh_manifest **next, lh_error *err)
{
    upd_ctx *c = vctx;
    c->calls++;
    if (c->nothing) {
        *next = NULL;
        return LH_EEXIST;
    }
    *next = cur ? lh_manifest_clone(cur) : lh_manifest_new("ignored");
    char key[64];
    snprintf(key, sizeof key, "data/u/%d.parquet", (int)(cur ? cur->nfiles : 0));
    lh_manifest_add_file(*next, key, 10, 1);
    return LH_OK;
}

static int refuse(void *vctx, const lh_manifest *cur, lh_manifest **next, lh_error *err)
{
    *next = NULL;
    return lh_error_set(err, LH_EINVAL, "schema mismatch");
}

static void test_catalog_update_creates_appends_and_noops(void **state)
{
    fixture *f = *state;
    lh_error err;
    upd_ctx c = {0};
    int64_t v = 0;
    assert_int_equal(lh_catalog_update(f->cat, &who, "u", add_one_file, &c, &v, &err), LH_OK);
    assert_true(v == 1);
    assert_int_equal(lh_catalog_update(f->cat, &who, "u", add_one_file, &c, &v, &err), LH_OK);
    assert_true(v == 2);
    lh_manifest *got;
    assert_int_equal(lh_catalog_get(f->cat, &who, "u", 0, &got, &err), LH_OK);
    assert_string_equal(got->dataset, "u");
    assert_int_equal(got->nfiles, 2);
    assert_true(got->files[1].added_version == 2);
    lh_manifest_free(got);
    c.nothing = true;
    assert_int_equal(lh_catalog_update(f->cat, &who, "u", add_one_file, &c, &v, &err), LH_EEXIST);
    assert_true(v == 2);
    assert_int_equal(lh_catalog_update(f->cat, &who, "u", refuse, NULL, &v, &err), LH_EINVAL);
    assert_string_equal(err.msg, "schema mismatch");
    int64_t *versions;
    size_t n;
    assert_int_equal(lh_catalog_versions(f->cat, &who, "u", &versions, &n, &err), LH_OK);
    assert_int_equal(n, 2);
    free(versions);
}

static void test_catalog_sees_commits_by_other_handles(void **state)
{
    fixture *f = *state;
    lh_error err;
    lh_storage *st2;
    lh_catalog *cat2;
    assert_int_equal(lh_storage_open_local(f->root, &st2, &err), LH_OK);
    assert_int_equal(lh_catalog_open(st2, &cat2, &err), LH_OK);
    upd_ctx c = {0};
    assert_int_equal(lh_catalog_update(f->cat, &who, "shared", add_one_file, &c, NULL, &err),
                     LH_OK);
    lh_manifest *got;
    assert_int_equal(lh_catalog_get(f->cat, &who, "shared", 0, &got, &err), LH_OK); /* cached */
    lh_manifest_free(got);
    for (int i = 0; i < 3; i++)
        assert_int_equal(lh_catalog_update(cat2, &who, "shared", add_one_file, &c, NULL, &err),
                         LH_OK);
    assert_int_equal(lh_catalog_get(f->cat, &who, "shared", 0, &got, &err), LH_OK);
    assert_true(got->version == 4);
    assert_int_equal(got->nfiles, 4);
    lh_manifest_free(got);
    /* The bucket wiped and rebuilt behind the catalog's back: no stale cache. */
    lh_rm_rf(f->root);
    assert_int_equal(lh_catalog_get(f->cat, &who, "shared", 0, &got, &err), LH_ENOENT);
    lh_catalog_close(cat2);
    lh_storage_close(st2);
}

static void test_catalog_storage_faults_surface(void **state)
{
    fixture *f = *state;
    lh_error err;
    upd_ctx c = {0};
    assert_int_equal(lh_catalog_update(f->cat, &who, "ff", add_one_file, &c, NULL, &err), LH_OK);
    for (int nth = 1; nth <= 6; nth++) {
        lh_storage *inner;
        assert_int_equal(lh_storage_open_local(f->root, &inner, &err), LH_OK);
        lh_storage *faulty = lh_storage_faulty(inner, nth, true);
        lh_catalog *cat;
        assert_int_equal(lh_catalog_open(faulty, &cat, &err), LH_OK);
        int rc = lh_catalog_update(cat, &who, "ff", add_one_file, &c, NULL, &err);
        if (rc != LH_OK) {
            assert_int_equal(rc, LH_EIO);
            assert_non_null(strstr(err.msg, "injected fault"));
        }
        lh_catalog_close(cat);
        lh_storage_close(faulty);
        /* Whatever failed, the catalog still reads back a complete version. */
        lh_manifest *got;
        assert_int_equal(lh_catalog_get(f->cat, &who, "ff", 0, &got, &err), LH_OK);
        assert_int_equal(got->nfiles, (size_t)got->version);
        lh_manifest_free(got);
    }
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest_json_round_trip),
        cmocka_unit_test(test_manifest_from_json_names_bad_field),
        T(test_catalog_commit_get_versions),
        T(test_catalog_commit_conflict_same_version),
        T(test_catalog_commit_race_forked_exactly_one_wins),
        T(test_catalog_names_validated),
        T(test_catalog_corrupt_manifest),
        T(test_catalog_list_datasets_sorted),
        T(test_catalog_update_creates_appends_and_noops),
        T(test_catalog_sees_commits_by_other_handles),
        T(test_catalog_storage_faults_surface),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
