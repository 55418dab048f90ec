/* core: SHA-256 vectors, incremental and file hashing, UUIDs, hash64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/core.h"

static void test_sha256_known_vectors(void **state)
{
    char out[LH_SHA256_HEX];
    lh_sha256_hex("", 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    lh_sha256_hex("abc", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *s = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    lh_sha256_hex(s, strlen(s), out);
    assert_string_equal(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_sha256_incremental_matches_oneshot(void **state)
{
    char *m = malloc(1000000);
    memset(m, 'a', 1000000);
    lh_sha256 *h = lh_sha256_new();
    for (int i = 0; i < 1000; i++)
        lh_sha256_update(h, m + i * 1000, 1000);
    char a[LH_SHA256_HEX], b[LH_SHA256_HEX];
    lh_sha256_final(h, a);
    lh_sha256_hex(m, 1000000, b);
    assert_string_equal(a, b);
    /* FIPS 180-2 vector: one million 'a'. */
    assert_string_equal(a, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(m);
}

static void test_sha256_file(void **state)
{
    char path[] = "/tmp/lh_test_hash_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "abc", 3), 3);
    close(fd);
    char out[LH_SHA256_HEX];
    lh_error err;
    assert_int_equal(lh_sha256_file(path, out, &err), LH_OK);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    unlink(path);
    assert_int_equal(lh_sha256_file(path, out, &err), LH_ENOENT);
    assert_non_null(strstr(err.msg, path));
}

static void test_uuid_format_and_uniqueness(void **state)
{
    char a[37], b[37];
    lh_uuid(a);
    lh_uuid(b);
    assert_int_equal(strlen(a), 36);
    assert_string_not_equal(a, b);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(a[i], '-');
        else
            assert_non_null(strchr("0123456789abcdef", a[i]));
    }
    assert_int_equal(a[14], '4');
    assert_non_null(strchr("89ab", a[19]));
}

static void test_hash64_known_values_and_seed(void **state)
{
    /* XXH64 reference values. */
    assert_true(lh_hash64("", 0, 0) == 0xEF46DB3751D8E999ULL);
    assert_true(lh_hash64("a", 1, 0) == 0xD24EC4F1A98C6E5BULL);
    assert_true(lh_hash64("abc", 3, 0) == 0x44BC2CF5AD770999ULL);
    const char *s = "Nobody inspects the spammish repetition";
    assert_true(lh_hash64(s, strlen(s), 0) == 0xFBCEA83C8A378BF1ULL);
    assert_true(lh_hash64("abc", 3, 0) != lh_hash64("abc", 3, 1));
    char big[100];
    memset(big, 7, sizeof big);
    assert_true(lh_hash64(big, 100, 0) != lh_hash64(big, 99, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_known_vectors),
        cmocka_unit_test(test_sha256_incremental_matches_oneshot),
        cmocka_unit_test(test_sha256_file),
        cmocka_unit_test(test_uuid_format_and_uniqueness),
        cmocka_unit_test(test_hash64_known_values_and_seed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
