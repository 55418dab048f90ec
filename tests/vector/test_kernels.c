/* Distance kernels: every SIMD kernel agrees with the scalar one to 1e-5 (relative). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "vector/vector.h"
#include "vector/vdata.h"
#include <string.h>

static const char *simd[] = {"avx2", "avx512"};
static const size_t dims[] = {1,  3,  7,   8,   15,  16,  17,  31,  32,
                              33, 63, 100, 128, 384, 767, 768, 1536};

static void fill(float *a, size_t n, uint64_t *s)
{
    for (size_t i = 0; i < n; i++)
        a[i] = (float)(vd_unif(s) * 2 - 1);
}

/* Agreement to 1e-5 relative to the magnitude of the summed terms (sum of |a_i * b_i|): a
 * sum that cancels to near zero cannot be compared relative to its own value. */
static void assert_close(float want, float got, double mag, const char *what, const char *k,
                         size_t d)
{
    double tol = 1e-5 * (mag > 1 ? mag : 1);
    if (fabs((double)want - got) > tol) {
        print_error("%s kernel %s d=%zu: scalar %.9g, got %.9g\n", what, k, d, want, got);
        fail();
    }
}

static void test_simd_kernels_agree_with_scalar(void **state)
{
    (void)state;
    uint64_t s = 7;
    float *a = malloc(2000 * sizeof(float)), *b = malloc(2000 * sizeof(float));
    uint8_t *c = malloc(2000);
    uint16_t *hb = malloc(2000 * sizeof(uint16_t));
    int tested = 0;
    for (size_t ki = 0; ki < 2; ki++) {
        float tmp;
        if (lh_vector_kernel_dot(simd[ki], a, b, 0, &tmp, NULL) == LH_EUNSUPPORTED) {
            /* not silent: say which kernel this CPU cannot run */
            print_message("kernel %s not supported by this CPU: not tested\n", simd[ki]);
            continue;
        }
        tested++;
        for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
            size_t d = dims[di];
            for (int rep = 0; rep < 5; rep++) {
                /* unaligned starts exercise the unaligned loads */
                float *pa = a + rep, *pb = b + (rep * 3) % 5;
                fill(pa, d, &s);
                fill(pb, d, &s);
                for (size_t j = 0; j < d; j++)
                    c[j] = (uint8_t)(vd_next(&s) & 255);
                float want, got;
                double mdot = 0, ml2 = 0, mu8 = 0;
                for (size_t j = 0; j < d; j++) {
                    mdot += fabs((double)pa[j] * pb[j]);
                    ml2 += ((double)pa[j] - pb[j]) * ((double)pa[j] - pb[j]);
                    mu8 += fabs((double)c[j] * pa[j]);
                }
                assert_int_equal(lh_vector_kernel_dot("scalar", pa, pb, d, &want, NULL), LH_OK);
                assert_int_equal(lh_vector_kernel_dot(simd[ki], pa, pb, d, &got, NULL), LH_OK);
                assert_close(want, got, mdot, "dot", simd[ki], d);
                assert_int_equal(lh_vector_kernel_l2sq("scalar", pa, pb, d, &want, NULL), LH_OK);
                assert_int_equal(lh_vector_kernel_l2sq(simd[ki], pa, pb, d, &got, NULL), LH_OK);
                assert_close(want, got, ml2, "l2sq", simd[ki], d);
                assert_int_equal(lh_vector_kernel_u8dot("scalar", c, pa, d, &want, NULL), LH_OK);
                assert_int_equal(lh_vector_kernel_u8dot(simd[ki], c, pa, d, &got, NULL), LH_OK);
                assert_close(want, got, mu8, "u8dot", simd[ki], d);
                /* the build's float x fp16 kernels, against scalar on the same fp16 bits */
                lh_vector_f16_encode(pb, hb + rep, d);
                assert_int_equal(lh_vector_kernel_f16dot("scalar", pa, hb + rep, d, &want, NULL),
                                 LH_OK);
                assert_int_equal(lh_vector_kernel_f16dot(simd[ki], pa, hb + rep, d, &got, NULL),
                                 LH_OK);
                assert_close(want, got, mdot, "f16dot", simd[ki], d);
                assert_int_equal(lh_vector_kernel_f16l2sq("scalar", pa, hb + rep, d, &want, NULL),
                                 LH_OK);
                assert_int_equal(lh_vector_kernel_f16l2sq(simd[ki], pa, hb + rep, d, &got, NULL),
                                 LH_OK);
                assert_close(want, got, ml2, "f16l2sq", simd[ki], d);
            }
        }
    }
    print_message("SIMD kernel sets tested: %d (active: %s)\n", tested, lh_vector_kernel_name());
    free(a);
    free(b);
    free(c);
    free(hb);
}

static void test_f16_kernels_match_float_within_rounding(void **state)
{
    (void)state;
    /* fp16 keeps 11 significant bits: a 768-d distance through the fp16 copy stays within
     * 2^-11 of the magnitude of its terms, so the build ranks neighbours as float32 does
     * except for near-ties */
    uint64_t s = 13;
    float a[768], b[768];
    uint16_t hb[768];
    fill(a, 768, &s);
    fill(b, 768, &s);
    lh_vector_f16_encode(b, hb, 768);
    double mdot = 0, ml2 = 0;
    for (int i = 0; i < 768; i++) {
        mdot += fabs((double)a[i] * b[i]);
        ml2 += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    }
    float want, got;
    assert_int_equal(lh_vector_kernel_dot("scalar", a, b, 768, &want, NULL), LH_OK);
    assert_int_equal(lh_vector_kernel_f16dot("scalar", a, hb, 768, &got, NULL), LH_OK);
    assert_true(fabs((double)want - got) <= mdot / 2048);
    assert_int_equal(lh_vector_kernel_l2sq("scalar", a, b, 768, &want, NULL), LH_OK);
    assert_int_equal(lh_vector_kernel_f16l2sq("scalar", a, hb, 768, &got, NULL), LH_OK);
    assert_true(fabs((double)want - got) <= ml2 / 1024);
    /* exact values survive: small integers, halves, zero, and the rounding is to nearest */
    float ex[4] = {1.0f, -0.5f, 0.0f, 1.0f + 1.0f / 4096};
    uint16_t he[4];
    lh_vector_f16_encode(ex, he, 4);
    assert_int_equal(he[0], 0x3C00);
    assert_int_equal(he[1], 0xB800);
    assert_int_equal(he[2], 0x0000);
    assert_int_equal(he[3], 0x3C00); /* 1 + 2^-12 ties to even: 1.0 */
}

static void test_scalar_kernels_match_double_precision(void **state)
{
    (void)state;
    uint64_t s = 11;
    float a[768], b[768];
    fill(a, 768, &s);
    fill(b, 768, &s);
    double dot = 0, l2 = 0;
    for (int i = 0; i < 768; i++) {
        dot += (double)a[i] * b[i];
        l2 += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    }
    float got;
    assert_int_equal(lh_vector_kernel_dot("scalar", a, b, 768, &got, NULL), LH_OK);
    assert_true(fabs(got - dot) < 1e-4);
    assert_int_equal(lh_vector_kernel_l2sq("scalar", a, b, 768, &got, NULL), LH_OK);
    assert_true(fabs(got - l2) < 1e-3);
}

static void test_unknown_kernel_is_rejected(void **state)
{
    (void)state;
    float a[4] = {0}, out;
    lh_error err = {0};
    assert_int_equal(lh_vector_kernel_dot("sse9", a, a, 4, &out, &err), LH_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "sse9"));
    assert_int_equal(lh_vector_kernel_select("sse9", NULL), LH_EUNSUPPORTED);
}

static void test_kernel_selection_runs_searches_with_each_set(void **state)
{
    (void)state;
    /* the same small index searched with each kernel set gives the same neighbours */
    vdata_spec sp = {.n = 2000,
                     .nq = 20,
                     .dim = 100,
                     .clusters = 8,
                     .sub = 8,
                     .spread = 0.6f,
                     .noise = 0.05f,
                     .seed = 5};
    float *base = malloc(sp.n * sp.dim * sizeof(float)),
          *q = malloc(sp.nq * sp.dim * sizeof(float));
    vdata_generate(&sp, base, q);
    lh_hnsw *h;
    assert_int_equal(lh_hnsw_build(base, sp.n, sp.dim, NULL, &h, NULL), LH_OK);
    lh_vector_hit ref[10], got[10];
    size_t nref, ngot;
    const char *sets[] = {"scalar", "avx2", "avx512"};
    for (size_t qi = 0; qi < sp.nq; qi++) {
        assert_int_equal(lh_vector_kernel_select("scalar", NULL), LH_OK);
        assert_int_equal(lh_hnsw_search_exact(h, q + qi * sp.dim, 10, NULL, ref, &nref, NULL),
                         LH_OK);
        for (int k = 1; k < 3; k++) {
            if (lh_vector_kernel_select(sets[k], NULL) != LH_OK) continue;
            assert_int_equal(lh_hnsw_search_exact(h, q + qi * sp.dim, 10, NULL, got, &ngot, NULL),
                             LH_OK);
            assert_int_equal(nref, ngot);
            for (size_t i = 0; i < ngot; i++)
                assert_true(fabsf(ref[i].distance - got[i].distance) < 1e-5f);
        }
    }
    assert_int_equal(lh_vector_kernel_select("auto", NULL), LH_OK);
    lh_hnsw_free(h);
    free(base);
    free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simd_kernels_agree_with_scalar),
        cmocka_unit_test(test_scalar_kernels_match_double_precision),
        cmocka_unit_test(test_f16_kernels_match_float_within_rounding),
        cmocka_unit_test(test_unknown_kernel_is_rejected),
        cmocka_unit_test(test_kernel_selection_runs_searches_with_each_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
