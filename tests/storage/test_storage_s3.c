/* storage: what only the S3 backend has — credentials errors, retries through a
 * fault-injecting proxy, the single-writer lease, a server killed mid-upload, the bounded
 * object cache under concurrent readers. Runs against a real S3 server (scripts/s3-server). */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>
#include <cmocka.h>

#include "s3server.h"
#include "storage/storage.h"
#include "testutil.h"

static s3srv server;
static int seq;

static int server_up(void **state)
{
    return s3srv_start(&server, 0);
}

static int server_down(void **state)
{
    s3srv_destroy(&server);
    return 0;
}

/* A fresh key prefix per store, so tests never see each other's objects. */
static const char *new_prefix(void)
{
    static char p[64];
    snprintf(p, sizeof p, "s3t%d-%d", (int)getpid(), ++seq);
    return p;
}

static lh_storage *open_ok(lh_s3_options *o)
{
    lh_storage *st = NULL;
    lh_error err;
    if (lh_storage_open_s3(o, &st, &err) != LH_OK) fail_msg("open: %s", err.msg);
    return st;
}

static void test_s3_wrong_secret_is_a_clear_403_without_the_secret(void **state)
{
    lh_s3_options o = s3srv_options(&server, new_prefix(), NULL);
    o.secret_access_key = "WRONG-secret-7f3a9";
    lh_storage *st = NULL;
    lh_error err;
    assert_int_equal(lh_storage_open_s3(&o, &st, &err), LH_EDENIED);
    assert_null(st);
    assert_non_null(strstr(err.msg, "403"));
    assert_non_null(strstr(err.msg, "SignatureDoesNotMatch"));
    assert_non_null(strstr(err.msg, "bucket 'lake'"));
    assert_non_null(strstr(err.msg, "credentials"));
    assert_null(strstr(err.msg, "WRONG-secret-7f3a9"));

    o = s3srv_options(&server, new_prefix(), NULL);
    o.access_key_id = "NOBODY";
    assert_int_equal(lh_storage_open_s3(&o, &st, &err), LH_EDENIED);
    assert_non_null(strstr(err.msg, "InvalidAccessKeyId"));
}

static void test_s3_bad_options_are_refused(void **state)
{
    lh_storage *st = NULL;
    lh_error err;
    lh_s3_options o = s3srv_options(&server, NULL, NULL);
    o.endpoint = NULL;
    assert_int_equal(lh_storage_open_s3(&o, &st, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "endpoint"));
    o = s3srv_options(&server, NULL, NULL);
    o.endpoint = "ftp://x";
    assert_int_equal(lh_storage_open_s3(&o, &st, &err), LH_EINVAL);
    o = s3srv_options(&server, NULL, NULL);
    o.bucket = "Bad_Bucket";
    assert_int_equal(lh_storage_open_s3(&o, &st, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "Bad_Bucket"));
    o = s3srv_options(&server, NULL, NULL);
    o.secret_access_key = "";
    assert_int_equal(lh_storage_open_s3(&o, &st, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "credentials"));
    o = s3srv_options(&server, "../up", NULL);
    assert_int_equal(lh_storage_open_s3(&o, &st, &err), LH_EINVAL);
    o = s3srv_options(&server, NULL, NULL);
    o.conditional_put = "maybe";
    assert_int_equal(lh_storage_open_s3(&o, &st, &err), LH_EINVAL);
    o = s3srv_options(&server, NULL, NULL);
    o.bucket = "no-such-bucket";
    assert_int_equal(lh_storage_open_s3(&o, &st, &err), LH_ENOENT);
    assert_non_null(strstr(err.msg, "NoSuchBucket"));
    assert_null(st);
}

/* A port on 127.0.0.1 that nothing listens on. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_s3_unreachable_server_fails_after_bounded_retries(void **state)
{
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", closed_port());
    lh_s3_options o = s3srv_options(&server, NULL, NULL);
    o.endpoint = ep;
    o.retry_max_ms = 400;
    lh_storage *st = NULL;
    lh_error err;
    assert_int_equal(lh_storage_open_s3(&o, &st, &err), LH_EUNAVAIL);
    assert_non_null(strstr(err.msg, "attempts"));
    assert_non_null(strstr(err.msg, "bucket 'lake'"));
}

static void test_s3_retries_503_then_succeeds(void **state)
{
    char ep[64];
    int pid;
    assert_int_equal(s3proxy_start(&server, "503-first 3", &pid, ep, sizeof ep), 0);
    lh_s3_options o = s3srv_options(&server, new_prefix(), NULL);
    o.endpoint = ep;
    lh_storage *st = open_ok(&o);
    lh_error err;
    assert_int_equal(lh_storage_put(st, "a", "retried", 7, &err), LH_OK);
    char *out;
    size_t n;
    assert_int_equal(lh_storage_get(st, "a", &out, &n, &err), LH_OK);
    assert_string_equal(out, "retried");
    free(out);
    lh_storage_stats s;
    lh_storage_stats_get(st, &s);
    assert_true(s.retries >= 3);
    lh_storage_close(st);
    kill(pid, SIGTERM);
}

static void test_s3_connection_resets_are_retried(void **state)
{
    char ep[64];
    int pid;
    assert_int_equal(s3proxy_start(&server, "reset-first 2", &pid, ep, sizeof ep), 0);
    lh_s3_options o = s3srv_options(&server, new_prefix(), NULL);
    o.endpoint = ep;
    lh_storage *st = open_ok(&o);
    lh_storage_stats s;
    lh_storage_stats_get(st, &s);
    assert_true(s.retries >= 2);
    lh_storage_close(st);
    kill(pid, SIGTERM);
}

static void test_s3_persistent_503_fails_with_the_status_and_attempts(void **state)
{
    char ep[64];
    int pid;
    assert_int_equal(s3proxy_start(&server, "503-always", &pid, ep, sizeof ep), 0);
    lh_s3_options o = s3srv_options(&server, new_prefix(), NULL);
    o.endpoint = ep;
    o.retry_max_ms = 600;
    lh_storage *st = NULL;
    lh_error err;
    assert_int_equal(lh_storage_open_s3(&o, &st, &err), LH_EUNAVAIL);
    assert_non_null(strstr(err.msg, "HTTP 503 SlowDown"));
    assert_non_null(strstr(err.msg, "attempts"));
    kill(pid, SIGTERM);
}

static void test_s3_second_writer_is_refused_while_the_lease_lives(void **state)
{
    const char *prefix = new_prefix();
    lh_s3_options o = s3srv_options(&server, prefix, NULL);
    o.lease_ttl_ms = 3000;
    lh_storage *a = open_ok(&o);
    lh_storage *b = open_ok(&o);
    lh_error err;
    assert_int_equal(lh_storage_put(a, "x", "from a", 6, &err), LH_OK); /* a takes the lease */
    assert_int_equal(lh_storage_put(b, "y", "from b", 6, &err), LH_ECONFLICT);
    assert_non_null(strstr(err.msg, "single-writer mode"));
    assert_non_null(strstr(err.msg, "If-None-Match"));
    assert_non_null(strstr(err.msg, "lease"));
    assert_int_equal(lh_storage_put_if_absent(b, "y", "b", 1, &err), LH_ECONFLICT);
    assert_int_equal(lh_storage_delete(b, "x", &err), LH_ECONFLICT);
    /* Readers never need the lease. */
    char *out;
    size_t n;
    assert_int_equal(lh_storage_get(b, "x", &out, &n, &err), LH_OK);
    assert_string_equal(out, "from a");
    free(out);
    /* The lease object is bookkeeping: never listed. */
    lh_object_list l;
    assert_int_equal(lh_storage_list_all(b, "", &l, &err), LH_OK);
    assert_int_equal(l.count, 1);
    assert_string_equal(l.items[0].key, "x");
    lh_storage_list_free(&l);
    /* a hands the lease back on close; b may now write. */
    lh_storage_close(a);
    assert_int_equal(lh_storage_put(b, "y", "from b", 6, &err), LH_OK);
    lh_storage_close(b);
}

static void test_s3_conditional_put_off_still_creates_once(void **state)
{
    /* With conditional writes switched off (no probe), the store takes the lease and
     * put-if-absent is HEAD + PUT under it. */
    lh_s3_options o = s3srv_options(&server, new_prefix(), NULL);
    o.conditional_put = "off";
    lh_storage *st = open_ok(&o);
    lh_error err;
    assert_int_equal(lh_storage_put_if_absent(st, "v1", "a", 1, &err), LH_OK);
    assert_int_equal(lh_storage_put_if_absent(st, "v1", "b", 1, &err), LH_EEXIST);
    lh_storage_close(st);
}

static void test_s3_server_killed_mid_upload_leaves_no_object(void **state)
{
    s3srv own = {0};
    assert_int_equal(s3srv_start(&own, 0), 0);
    char pidfile[300], mode[400], ep[64];
    snprintf(pidfile, sizeof pidfile, "%s/pid", own.dir);
    snprintf(mode, sizeof mode, "kill-at-part '%s'", pidfile);
    int ppid;
    assert_int_equal(s3proxy_start(&own, mode, &ppid, ep, sizeof ep), 0);
    char *tmp = tu_tmpdir("s3-kill");
    size_t size = (size_t)12 << 20;
    char *big = malloc(size);
    memset(big, 'q', size);
    char *src = tu_write(tmp, "big", big, (long)size);
    free(big);
    lh_s3_options o = s3srv_options(&own, "lake1", NULL);
    o.endpoint = ep;
    o.multipart_threshold = (int64_t)6 << 20;
    o.part_size = (int64_t)5 << 20;
    o.retry_max_ms = 500;
    lh_storage *st = lh_storage_journaled(open_ok(&o), "primary");
    lh_storage_errors_reset();
    lh_error err;
    assert_int_equal(lh_storage_put(st, "small", "s", 1, &err), LH_OK);
    int rc = lh_storage_put_file(st, "data/ds/big.parquet", src, &err);
    assert_int_equal(rc, LH_EUNAVAIL);
    assert_non_null(strstr(err.msg, "upload part"));
    /* The failure is journaled: bucket, op, key, attempts. */
    lh_storage_error_event *ev;
    size_t nev;
    lh_storage_errors_query("primary", "put_file", 0, 0, &ev, &nev);
    assert_int_equal(nev, 1);
    assert_string_equal(ev[0].key, "data/ds/big.parquet");
    assert_int_equal(ev[0].code, LH_EUNAVAIL);
    assert_true(ev[0].attempts >= 2);
    assert_non_null(strstr(ev[0].message, "upload part"));
    free(ev);
    lh_storage_close(st);
    /* The server comes back on the same port with the same data. */
    int port = s3srv_port(&own);
    s3srv_stop(&own);
    assert_int_equal(s3srv_start(&own, port), 0);
    lh_s3_options d = s3srv_options(&own, "lake1", NULL);
    st = open_ok(&d);
    lh_object_info info;
    assert_int_equal(lh_storage_head(st, "data/ds/big.parquet", &info, &err), LH_ENOENT);
    lh_object_list l;
    assert_int_equal(lh_storage_list_all(st, "", &l, &err), LH_OK);
    assert_int_equal(l.count, 1);
    assert_string_equal(l.items[0].key, "small");
    lh_storage_list_free(&l);
    lh_storage_close(st);
    kill(ppid, SIGTERM);
    s3srv_destroy(&own);
    free(src);
    tu_rmdir(tmp);
}

static void test_s3_virtual_host_addressing(void **state)
{
    /* Addressing only: s3rver signs virtual-host requests differently from AWS, so this server
     * accepts any well-formed signature (path style covers signing). */
    s3srv lax = {.extra = "--lax-signatures"};
    assert_int_equal(s3srv_start(&lax, 0), 0);
    char ep[64];
    snprintf(ep, sizeof ep, "http://s3.localhost:%d", s3srv_port(&lax));
    lh_s3_options o = s3srv_options(&lax, new_prefix(), NULL);
    o.endpoint = ep;
    o.path_style = false; /* http://lake.s3.localhost:PORT/KEY */
    lh_storage *st = open_ok(&o);
    lh_error err;
    assert_int_equal(lh_storage_put(st, "v/h.txt", "vhost", 5, &err), LH_OK);
    char *out;
    size_t n;
    assert_int_equal(lh_storage_get(st, "v/h.txt", &out, &n, &err), LH_OK);
    assert_string_equal(out, "vhost");
    free(out);
    lh_object_list l;
    assert_int_equal(lh_storage_list_all(st, "v/", &l, &err), LH_OK);
    assert_int_equal(l.count, 1);
    lh_storage_list_free(&l);
    lh_storage_close(st);
    /* The object landed in bucket "lake" of that server. */
    char path[512];
    snprintf(path, sizeof path, "%s/data/lake/%s/v/h.txt._S3rver_object", lax.dir, o.prefix);
    assert_int_equal(access(path, F_OK), 0);
    s3srv_destroy(&lax);
}

typedef struct {
    lh_storage *st;
    int failures;
} reader_arg;

static void *reader(void *p)
{
    reader_arg *a = p;
    for (int i = 0; i < 30; i++) {
        char key[32], want[32], buf[1024];
        snprintf(key, sizeof key, "c/obj%d.parquet", i % 4);
        snprintf(want, sizeof want, "object number %d....", i % 4);
        const char *path = lh_storage_local_path(a->st, key, buf, sizeof buf);
        char *x = NULL;
        size_t n;
        lh_error err;
        if (!path || lh_file_read(path, &x, &n, &err) != LH_OK || strcmp(x, want) != 0)
            a->failures++;
        free(x);
    }
    return NULL;
}

static void test_s3_cache_is_bounded_lru_and_safe_for_concurrent_readers(void **state)
{
    char *cache = tu_tmpdir("s3-cache");
    lh_s3_options o = s3srv_options(&server, new_prefix(), cache);
    o.cache_max_bytes = 45; /* two of the 20-byte objects below, not three */
    o.cache_grace_ms = -1;  /* strict LRU first */
    lh_storage *st = open_ok(&o);
    lh_error err;
    for (int i = 0; i < 4; i++) {
        char key[32], val[32];
        snprintf(key, sizeof key, "c/obj%d.parquet", i);
        snprintf(val, sizeof val, "object number %d....", i);
        assert_int_equal(lh_storage_put(st, key, val, strlen(val), &err), LH_OK);
    }
    char b0[1024], b1[1024], b2[1024];
    const char *p0 = lh_storage_local_path(st, "c/obj0.parquet", b0, sizeof b0);
    const char *p1 = lh_storage_local_path(st, "c/obj1.parquet", b1, sizeof b1);
    assert_non_null(p0);
    assert_non_null(p1);
    assert_non_null(strstr(p0, cache));
    assert_non_null(strstr(p0, ".parquet"));
    assert_non_null(lh_storage_local_path(st, "c/obj0.parquet", b0, sizeof b0)); /* 0 is newer */
    assert_non_null(lh_storage_local_path(st, "c/obj2.parquet", b2, sizeof b2));
    assert_int_equal(access(p1, F_OK), -1); /* least recently used: evicted */
    assert_int_equal(access(p0, F_OK), 0);
    lh_storage_stats s;
    lh_storage_stats_get(st, &s);
    assert_true(s.cache_bytes <= 45);
    assert_int_equal(s.cache_hits, 1);
    assert_int_equal(s.cache_misses, 3);

    lh_storage_close(st);

    /* Four threads reading four objects through a cache that holds two: a copy just handed
     * out is never evicted before its reader opens it (the grace period). */
    o.cache_grace_ms = 0;
    st = open_ok(&o);
    pthread_t t[4];
    reader_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (reader_arg){st, 0};
        pthread_create(&t[i], NULL, reader, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    lh_storage_close(st);

    /* A new process (here: a new store) finds the copies already there. */
    o.cache_max_bytes = 1 << 20;
    st = open_ok(&o);
    assert_non_null(lh_storage_local_path(st, "c/obj0.parquet", b0, sizeof b0));
    lh_storage_stats_get(st, &s);
    assert_true(s.cache_hits + s.cache_misses == 1);
    lh_storage_close(st);
    tu_rmdir(cache);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s3_wrong_secret_is_a_clear_403_without_the_secret),
        cmocka_unit_test(test_s3_bad_options_are_refused),
        cmocka_unit_test(test_s3_unreachable_server_fails_after_bounded_retries),
        cmocka_unit_test(test_s3_retries_503_then_succeeds),
        cmocka_unit_test(test_s3_connection_resets_are_retried),
        cmocka_unit_test(test_s3_persistent_503_fails_with_the_status_and_attempts),
        cmocka_unit_test(test_s3_second_writer_is_refused_while_the_lease_lives),
        cmocka_unit_test(test_s3_conditional_put_off_still_creates_once),
        cmocka_unit_test(test_s3_server_killed_mid_upload_leaves_no_object),
        cmocka_unit_test(test_s3_virtual_host_addressing),
        cmocka_unit_test(test_s3_cache_is_bounded_lru_and_safe_for_concurrent_readers),
    };
    return cmocka_run_group_tests_name("storage: s3 backend", tests, server_up, server_down);
}
