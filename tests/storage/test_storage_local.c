/* storage: what is local-only — the object file path, key checks, listings around dot-files
 * and byte order, atomic create across processes; the shared contract is test_storage_suite.c. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "storage/storage.h"

typedef struct {
    char root[128];
    lh_storage *st;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->root, sizeof f->root, "/tmp/lh_test_storage_%d_%llx", (int)getpid(),
             (unsigned long long)lh_now_ns());
    lh_error err;
    if (lh_storage_open_local(f->root, &f->st, &err) != LH_OK) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    lh_storage_close(f->st);
    lh_rm_rf(f->root);
    free(f);
    return 0;
}

static void put_str(lh_storage *st, const char *key, const char *s)
{
    lh_error err;
    lh_error_clear(&err);
    if (lh_storage_put(st, key, s, strlen(s), &err) != LH_OK) fail_msg("put %s: %s", key, err.msg);
}

/* The shared contract (round trips, ranges, files, listings) is tests/storage/
 * test_storage_suite.c, run on both backends; this file keeps what is local-only. */
static void test_local_path_is_the_object_file(void **state)
{
    fixture *f = *state;
    lh_storage *st = f->st;
    assert_string_equal(lh_storage_backend(st), "local");
    put_str(st, "data/candidates/a.parquet", "hello world");
    char buf[512];
    const char *p = lh_storage_local_path(st, "data/candidates/a.parquet", buf, sizeof buf);
    assert_non_null(p);
    assert_true(p[0] == '/');
    assert_non_null(strstr(p, f->root));
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_size, 11);
    assert_null(lh_storage_local_path(st, "data/candidates/a.parquet", buf, 8));
    assert_null(lh_storage_local_path(st, "../etc/passwd", buf, sizeof buf));
}

static void test_key_check_accepts_valid(void **state)
{
    const char *ok[] = {"a",
                        "_catalog/candidates/v00000001.json",
                        "data/x/a-b_c.parquet",
                        "k=v/p@1+2",
                        ".hidden/ok",
                        "a.b.c"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        lh_error err;
        if (lh_storage_key_check(ok[i], &err) != LH_OK)
            fail_msg("'%s' rejected: %s", ok[i], err.msg);
    }
}

static void test_key_check_rejects_bad(void **state)
{
    char too_long[LH_KEY_MAX + 1];
    memset(too_long, 'a', LH_KEY_MAX);
    too_long[LH_KEY_MAX] = '\0';
    char max_ok[LH_KEY_MAX];
    memset(max_ok, 'a', LH_KEY_MAX - 1);
    max_ok[LH_KEY_MAX - 1] = '\0';
    struct {
        const char *key;
        const char *needle;
    } bad[] = {
        {"", "empty"},
        {"..", "'..'"},
        {"a/../b", "'..'"},
        {"/abs", "leading '/'"},
        {"a//b", "empty path segment"},
        {"a/./b", "'.'"},
        {"a/", "empty path segment"},
        {"a b", "0x20"},
        {"a\\b", "'\\'"},
        {"a\nb", "0x0A"},
        {"a*b", "'*'"},
        {"caf\xC3\xA9", "0xC3"},
        {too_long, "at most 1023"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lh_error err;
        lh_error_clear(&err);
        assert_int_equal(lh_storage_key_check(bad[i].key, &err), LH_EINVAL);
        if (!strstr(err.msg, bad[i].needle))
            fail_msg("key #%zu: message '%s' lacks '%s'", i, err.msg, bad[i].needle);
    }
    assert_int_equal(lh_storage_key_check(max_ok, NULL), LH_OK);
    assert_int_equal(lh_storage_key_check(NULL, NULL), LH_EINVAL);
}

static void test_local_operations_validate_keys(void **state)
{
    fixture *f = *state;
    lh_error err;
    char *out;
    size_t n;
    lh_object_info info;
    lh_object_list l;
    assert_int_equal(lh_storage_put(f->st, "../escape", "x", 1, &err), LH_EINVAL);
    assert_int_equal(lh_storage_put_if_absent(f->st, "/abs", "x", 1, &err), LH_EINVAL);
    assert_int_equal(lh_storage_get(f->st, "a//b", &out, &n, &err), LH_EINVAL);
    assert_int_equal(lh_storage_head(f->st, "a/./b", &info, &err), LH_EINVAL);
    assert_int_equal(lh_storage_delete(f->st, "..", &err), LH_EINVAL);
    assert_int_equal(lh_storage_list(f->st, "../", NULL, 0, &l, &err), LH_EINVAL);
    assert_int_equal(lh_storage_list(f->st, "/", NULL, 0, &l, &err), LH_EINVAL);
    struct stat sb;
    char esc[256];
    snprintf(esc, sizeof esc, "%s/../escape", f->root);
    assert_int_not_equal(stat(esc, &sb), 0);
}

static void test_local_list_sorted_prefix_and_pagination(void **state)
{
    fixture *f = *state;
    lh_error err;
    /* Byte order puts "a-c" (0x2D) before "a/…" (0x2F) before "a0" (0x30). */
    const char *keys[] = {"a/b",
                          "a/c/d",
                          "a-c",
                          "a0",
                          "b",
                          "_catalog/x/v00000001.json",
                          "_catalog/x/v00000002.json",
                          "_catalog/xy/v00000001.json",
                          "Z"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        put_str(f->st, keys[i], keys[i]);
    /* Stray temp files and dot-files are invisible. */
    char path[512];
    snprintf(path, sizeof path, "%s/a/.tmp.1.abc", f->root);
    FILE *fp = fopen(path, "w");
    fclose(fp);
    snprintf(path, sizeof path, "%s/.cache", f->root);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/.cache/junk", f->root);
    fp = fopen(path, "w");
    fclose(fp);

    const char *all[] = {"Z",
                         "_catalog/x/v00000001.json",
                         "_catalog/x/v00000002.json",
                         "_catalog/xy/v00000001.json",
                         "a-c",
                         "a/b",
                         "a/c/d",
                         "a0",
                         "b"};
    lh_object_list l;
    assert_int_equal(lh_storage_list_all(f->st, "", &l, &err), LH_OK);
    assert_int_equal(l.count, 9);
    for (size_t i = 0; i < l.count; i++)
        assert_string_equal(l.items[i].key, all[i]);
    assert_null(l.next_token);
    lh_storage_list_free(&l);

    /* Pages of 2, chained by token, give the same sequence. */
    size_t seen = 0;
    char *token = NULL;
    int pages = 0;
    do {
        assert_int_equal(lh_storage_list(f->st, "", token, 2, &l, &err), LH_OK);
        free(token);
        token = l.next_token ? strdup(l.next_token) : NULL;
        assert_true(l.count <= 2);
        for (size_t i = 0; i < l.count; i++)
            assert_string_equal(l.items[i].key, all[seen++]);
        lh_storage_list_free(&l);
        pages++;
    } while (token);
    assert_int_equal(seen, 9);
    assert_int_equal(pages, 5);

    /* Prefixes: a directory, a partial name, a partial directory. */
    assert_int_equal(lh_storage_list_all(f->st, "_catalog/x/", &l, &err), LH_OK);
    assert_int_equal(l.count, 2);
    assert_string_equal(l.items[1].key, "_catalog/x/v00000002.json");
    assert_true(l.items[1].size == (int64_t)strlen("_catalog/x/v00000002.json"));
    lh_storage_list_free(&l);
    assert_int_equal(lh_storage_list_all(f->st, "_catalog/x", &l, &err), LH_OK);
    assert_int_equal(l.count, 3);
    lh_storage_list_free(&l);
    assert_int_equal(lh_storage_list_all(f->st, "a", &l, &err), LH_OK);
    assert_int_equal(l.count, 4);
    assert_string_equal(l.items[0].key, "a-c");
    assert_string_equal(l.items[3].key, "a0");
    lh_storage_list_free(&l);
    assert_int_equal(lh_storage_list_all(f->st, "a/c", &l, &err), LH_OK);
    assert_int_equal(l.count, 1);
    assert_string_equal(l.items[0].key, "a/c/d");
    lh_storage_list_free(&l);
    assert_int_equal(lh_storage_list_all(f->st, "nothing/", &l, &err), LH_OK);
    assert_int_equal(l.count, 0);
    lh_storage_list_free(&l);

    /* Prefix and token together: resume inside a directory. */
    assert_int_equal(lh_storage_list(f->st, "a", "a/b", 1, &l, &err), LH_OK);
    assert_int_equal(l.count, 1);
    assert_string_equal(l.items[0].key, "a/c/d");
    assert_non_null(l.next_token);
    lh_storage_list_free(&l);
    lh_storage_list_free(NULL);
}

static void test_local_list_many_keys_pages(void **state)
{
    fixture *f = *state;
    lh_error err;
    for (int i = 0; i < 2500; i++) {
        char key[64];
        snprintf(key, sizeof key, "many/%02d/k%05d", i % 7, i);
        put_str(f->st, key, "x");
    }
    lh_object_list l;
    assert_int_equal(lh_storage_list(f->st, "many/", NULL, 0, &l, &err), LH_OK);
    assert_int_equal(l.count, 1000); /* default page size */
    assert_non_null(l.next_token);
    lh_storage_list_free(&l);
    assert_int_equal(lh_storage_list_all(f->st, "many/", &l, &err), LH_OK);
    assert_int_equal(l.count, 2500);
    for (size_t i = 1; i < l.count; i++)
        assert_true(strcmp(l.items[i - 1].key, l.items[i].key) < 0);
    lh_storage_list_free(&l);
}

static void test_local_put_if_absent_single_process(void **state)
{
    fixture *f = *state;
    lh_error err;
    assert_int_equal(lh_storage_put_if_absent(f->st, "c/v1", "first", 5, &err), LH_OK);
    assert_int_equal(lh_storage_put_if_absent(f->st, "c/v1", "second", 6, &err), LH_EEXIST);
    assert_non_null(strstr(err.msg, "c/v1"));
    char *out;
    size_t n;
    assert_int_equal(lh_storage_get(f->st, "c/v1", &out, &n, &err), LH_OK);
    assert_string_equal(out, "first");
    free(out);
    /* No temp files are left behind. */
    char dir[256];
    snprintf(dir, sizeof dir, "%s/c", f->root);
    lh_object_list l;
    assert_int_equal(lh_storage_list_all(f->st, "c/", &l, &err), LH_OK);
    assert_int_equal(l.count, 1);
    lh_storage_list_free(&l);
}

#define RACE_KEYS 300

static void race_child(const char *root, int id, int start_fd, int result_fd)
{
    lh_storage *st;
    lh_error err;
    if (lh_storage_open_local(root, &st, &err) != LH_OK) _exit(2);
    char go;
    if (read(start_fd, &go, 1) != 1) _exit(3);
    char wins[RACE_KEYS];
    for (int i = 0; i < RACE_KEYS; i++) {
        char key[64], val[16];
        snprintf(key, sizeof key, "race/k%04d", i);
        snprintf(val, sizeof val, "child%d", id);
        int rc = lh_storage_put_if_absent(st, key, val, strlen(val), &err);
        if (rc != LH_OK && rc != LH_EEXIST) _exit(4);
        wins[i] = rc == LH_OK ? '1' : '0';
    }
    if (write(result_fd, wins, sizeof wins) != (ssize_t)sizeof wins) _exit(5);
    lh_storage_close(st);
    _exit(0);
}

static void test_local_put_if_absent_race_two_processes(void **state)
{
    fixture *f = *state;
    int start[2], res[2][2];
    assert_int_equal(pipe(start), 0);
    pid_t pids[2];
    for (int c = 0; c < 2; c++) {
        assert_int_equal(pipe(res[c]), 0);
        pids[c] = fork();
        assert_true(pids[c] >= 0);
        if (pids[c] == 0) {
            close(start[1]);
            close(res[c][0]);
            race_child(f->root, c, start[0], res[c][1]);
        }
        close(res[c][1]);
    }
    close(start[0]);
    assert_int_equal(write(start[1], "gg", 2), 2); /* release both at once */
    close(start[1]);
    char wins[2][RACE_KEYS];
    for (int c = 0; c < 2; c++) {
        size_t got = 0;
        while (got < RACE_KEYS) {
            ssize_t r = read(res[c][0], wins[c] + got, RACE_KEYS - got);
            assert_true(r > 0);
            got += (size_t)r;
        }
        close(res[c][0]);
        int status;
        assert_int_equal(waitpid(pids[c], &status, 0), pids[c]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    lh_error err;
    int total[2] = {0, 0};
    for (int i = 0; i < RACE_KEYS; i++) {
        assert_true((wins[0][i] == '1') + (wins[1][i] == '1') == 1); /* exactly one winner */
        int winner = wins[0][i] == '1' ? 0 : 1;
        total[winner]++;
        char key[64], want[16];
        snprintf(key, sizeof key, "race/k%04d", i);
        snprintf(want, sizeof want, "child%d", winner);
        char *out;
        size_t n;
        assert_int_equal(lh_storage_get(f->st, key, &out, &n, &err), LH_OK);
        assert_string_equal(out, want); /* the stored bytes are the winner's */
        free(out);
    }
    assert_int_equal(total[0] + total[1], RACE_KEYS);
    lh_object_list l;
    assert_int_equal(lh_storage_list_all(f->st, "race/", &l, &err), LH_OK);
    assert_int_equal(l.count, RACE_KEYS);
    lh_storage_list_free(&l);
}

static void test_local_readers_never_see_partial_puts(void **state)
{
    fixture *f = *state;
    size_t size = 1 << 20;
    char *a = malloc(size), *b = malloc(size);
    memset(a, 'a', size);
    memset(b, 'b', size);
    lh_error err;
    assert_int_equal(lh_storage_put(f->st, "atomic", a, size, &err), LH_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        lh_storage *st;
        if (lh_storage_open_local(f->root, &st, &err) != LH_OK) _exit(2);
        for (int i = 0; i < 40; i++)
            if (lh_storage_put(st, "atomic", i % 2 ? a : b, size, &err) != LH_OK) _exit(3);
        lh_storage_close(st);
        _exit(0);
    }
    int status = 0, reads = 0;
    for (;;) {
        char *out;
        size_t n;
        assert_int_equal(lh_storage_get(f->st, "atomic", &out, &n, &err), LH_OK);
        assert_int_equal(n, size);
        assert_true(memcmp(out, a, size) == 0 || memcmp(out, b, size) == 0);
        free(out);
        reads++;
        if (waitpid(pid, &status, WNOHANG) == pid) break;
    }
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(reads > 0);
    free(a);
    free(b);
}

static void test_local_delete_prunes_empty_dirs_and_put_recreates(void **state)
{
    fixture *f = *state;
    lh_error err;
    put_str(f->st, "p/q/r/obj", "1");
    assert_int_equal(lh_storage_delete(f->st, "p/q/r/obj", &err), LH_OK);
    char path[256];
    snprintf(path, sizeof path, "%s/p", f->root);
    struct stat sb;
    assert_int_not_equal(stat(path, &sb), 0);
    struct stat rootsb;
    assert_int_equal(stat(f->root, &rootsb), 0); /* the root itself stays */
    put_str(f->st, "p/q/r/obj", "2");
    char *out;
    size_t n;
    assert_int_equal(lh_storage_get(f->st, "p/q/r/obj", &out, &n, &err), LH_OK);
    assert_string_equal(out, "2");
    free(out);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_local_path_is_the_object_file),
        cmocka_unit_test(test_key_check_accepts_valid),
        cmocka_unit_test(test_key_check_rejects_bad),
        T(test_local_operations_validate_keys),
        T(test_local_list_sorted_prefix_and_pagination),
        T(test_local_list_many_keys_pages),
        T(test_local_put_if_absent_single_process),
        T(test_local_put_if_absent_race_two_processes),
        T(test_local_readers_never_see_partial_puts),
        T(test_local_delete_prunes_empty_dirs_and_put_recreates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
