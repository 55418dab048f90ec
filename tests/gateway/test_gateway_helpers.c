/* Pure gateway helpers: routing, percent decoding, query strings, type overrides, listen
 * addresses and the ingest-folder path check. No server is started here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/gateway_int.h"

static void dummy(gw_req *r)
{
    (void)r;
}

static const gw_route table[] = {
    {"GET", "/health", GW_BODY_NONE, dummy},
    {"GET", "/catalog/datasets", GW_BODY_NONE, dummy},
    {"GET", "/catalog/datasets/{name}", GW_BODY_NONE, dummy},
    {"DELETE", "/catalog/datasets/{name}", GW_BODY_NONE, dummy},
    {"POST", "/ingest", GW_BODY_UPLOAD, dummy},
    {"POST", "/ingest/file", GW_BODY_JSON, dummy},
};
#define NT (sizeof table / sizeof table[0])

static int find(const char *method, const char *path, const gw_route **out, char **p0,
                char allow[GW_ALLOW_MAX], lh_error *err)
{
    char *params[GW_MAX_PARAMS] = {0};
    size_t np = 0;
    int rc = gw_route_find(table, NT, method, path, out, params, &np, allow, err);
    if (p0)
        *p0 = np ? params[0] : NULL;
    else if (np)
        free(params[0]);
    for (size_t i = 1; i < np; i++)
        free(params[i]);
    return rc;
}

static void test_route_matches_static_path(void **state)
{
    const gw_route *r;
    char allow[GW_ALLOW_MAX];
    lh_error err = {0};
    assert_int_equal(find("GET", "/health", &r, NULL, allow, &err), LH_OK);
    assert_ptr_equal(r, &table[0]);
    assert_int_equal(find("GET", "/health/", &r, NULL, allow, &err), LH_OK);
    assert_int_equal(find("POST", "/ingest/file", &r, NULL, allow, &err), LH_OK);
    assert_ptr_equal(r, &table[5]);
}

static void test_route_head_uses_get(void **state)
{
    const gw_route *r;
    char allow[GW_ALLOW_MAX];
    lh_error err = {0};
    assert_int_equal(find("HEAD", "/health", &r, NULL, allow, &err), LH_OK);
    assert_ptr_equal(r, &table[0]);
}

static void test_route_decodes_param(void **state)
{
    const gw_route *r;
    char allow[GW_ALLOW_MAX];
    lh_error err = {0};
    char *p = NULL;
    assert_int_equal(find("GET", "/catalog/datasets/job%5Forders", &r, &p, allow, &err), LH_OK);
    assert_ptr_equal(r, &table[2]);
    assert_string_equal(p, "job_orders");
    free(p);
}

static void test_route_encoded_slash_stays_in_segment(void **state)
{
    const gw_route *r;
    char allow[GW_ALLOW_MAX];
    lh_error err = {0};
    char *p = NULL;
    assert_int_equal(find("GET", "/catalog/datasets/..%2F..%2Fetc", &r, &p, allow, &err), LH_OK);
    assert_string_equal(p, "../../etc"); /* the handler's name check refuses it with 400 */
    free(p);
}

static void test_route_refuses_dot_segments(void **state)
{
    const gw_route *r;
    char allow[GW_ALLOW_MAX];
    lh_error err = {0};
    assert_int_equal(find("GET", "/catalog/datasets/../../etc", &r, NULL, allow, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "'..'"));
    assert_int_equal(find("GET", "/catalog//datasets", &r, NULL, allow, &err), LH_EINVAL);
}

static void test_route_unknown_path_is_not_found(void **state)
{
    const gw_route *r;
    char allow[GW_ALLOW_MAX];
    lh_error err = {0};
    assert_int_equal(find("GET", "/nope", &r, NULL, allow, &err), LH_ENOENT);
    assert_null(r);
    assert_int_equal(find("GET", "/catalog/datasets/a/b", &r, NULL, allow, &err), LH_ENOENT);
    assert_int_equal(find("GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s", &r, NULL, allow, &err),
                     LH_ENOENT);
}

static void test_route_wrong_method_lists_allowed(void **state)
{
    const gw_route *r;
    char allow[GW_ALLOW_MAX];
    lh_error err = {0};
    assert_int_equal(find("POST", "/catalog/datasets/x", &r, NULL, allow, &err), LH_EUNSUPPORTED);
    assert_string_equal(allow, "GET, DELETE");
    assert_int_equal(find("GET", "/ingest", &r, NULL, allow, &err), LH_EUNSUPPORTED);
    assert_string_equal(allow, "POST");
}

static void test_route_bad_escape_is_invalid(void **state)
{
    const gw_route *r;
    char allow[GW_ALLOW_MAX];
    lh_error err = {0};
    assert_int_equal(find("GET", "/catalog/datasets/a%zz", &r, NULL, allow, &err), LH_EINVAL);
    assert_int_equal(find("GET", "/catalog/datasets/a%00b", &r, NULL, allow, &err), LH_EINVAL);
    assert_int_equal(find("GET", "/catalog/datasets/%ff", &r, NULL, allow, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "UTF-8"));
}

static void test_table_routes_are_unique(void **state)
{
    for (size_t i = 0; i < gw_nroutes; i++) {
        assert_non_null(gw_routes[i].handler);
        for (size_t j = i + 1; j < gw_nroutes; j++)
            assert_false(strcmp(gw_routes[i].method, gw_routes[j].method) == 0 &&
                         strcmp(gw_routes[i].pattern, gw_routes[j].pattern) == 0);
    }
}

/* The served OpenAPI document and the route table describe the same operations. */
static void test_openapi_matches_route_table(void **state)
{
    json_error_t jerr;
    json_t *doc = json_loadb(gw_openapi_json, gw_openapi_len(), 0, &jerr);
    if (!doc) fail_msg("embedded openapi.json: line %d: %s", jerr.line, jerr.text);
    json_t *paths = json_object_get(doc, "paths");
    assert_non_null(paths);
    size_t documented = 0;
    for (size_t i = 0; i < gw_nroutes; i++) {
        char method[16];
        size_t k = 0;
        for (; gw_routes[i].method[k] && k < sizeof method - 1; k++)
            method[k] = (char)(gw_routes[i].method[k] | 0x20);
        method[k] = '\0';
        json_t *p = json_object_get(paths, gw_routes[i].pattern);
        if (!p || !json_object_get(p, method))
            fail_msg("route %s %s is not in openapi.json", gw_routes[i].method,
                     gw_routes[i].pattern);
    }
    const char *path;
    json_t *ops;
    json_object_foreach(paths, path, ops)
    {
        const char *m;
        json_t *op;
        json_object_foreach(ops, m, op)
        {
            if (strcmp(m, "parameters") == 0) continue;
            documented++;
            bool found = false;
            for (size_t i = 0; i < gw_nroutes && !found; i++)
                found = strcmp(gw_routes[i].pattern, path) == 0 &&
                        strcasecmp(gw_routes[i].method, m) == 0;
            if (!found) fail_msg("openapi.json documents %s %s, which no route serves", m, path);
        }
    }
    assert_int_equal(documented, gw_nroutes);
    json_decref(doc);
}

static void test_json_text_replaces_invalid_utf8(void **state)
{
    json_t *j = gw_json_text("caf\xe9 ok \xc3\xa9");
    assert_string_equal(json_string_value(j), "caf\xef\xbf\xbd ok \xc3\xa9");
    json_decref(j);
    j = gw_json_text(NULL);
    assert_string_equal(json_string_value(j), "");
    json_decref(j);
}

static void test_percent_decode(void **state)
{
    char *out = NULL;
    lh_error err = {0};
    assert_int_equal(gw_percent_decode("a%20b+c", 7, true, &out, &err), LH_OK);
    assert_string_equal(out, "a b c");
    free(out);
    assert_int_equal(gw_percent_decode("a+b", 3, false, &out, &err), LH_OK);
    assert_string_equal(out, "a+b");
    free(out);
    assert_int_equal(gw_percent_decode("%C3%A9", 6, false, &out, &err), LH_OK);
    assert_string_equal(out, "\xc3\xa9");
    free(out);
    assert_int_equal(gw_percent_decode("ab%2", 4, false, &out, &err), LH_EINVAL);
    assert_null(out);
    assert_int_equal(gw_percent_decode("%", 1, false, &out, &err), LH_EINVAL);
}

static void test_query_parse(void **state)
{
    gw_kv *kv = NULL;
    size_t n = 0;
    lh_error err = {0};
    assert_int_equal(
        gw_query_parse("dataset=people&types=a%3AINT%2Cb%3ADATE&rejects&&name=my+file.csv", &kv, &n,
                       &err),
        LH_OK);
    assert_int_equal(n, 4);
    assert_string_equal(gw_kv_get(kv, n, "dataset"), "people");
    assert_string_equal(gw_kv_get(kv, n, "types"), "a:INT,b:DATE");
    assert_string_equal(gw_kv_get(kv, n, "rejects"), "");
    assert_string_equal(gw_kv_get(kv, n, "name"), "my file.csv");
    assert_null(gw_kv_get(kv, n, "format"));
    gw_kv_free(kv, n);
    assert_int_equal(gw_query_parse(NULL, &kv, &n, &err), LH_OK);
    assert_int_equal(n, 0);
    assert_int_equal(gw_query_parse("", &kv, &n, &err), LH_OK);
    assert_int_equal(n, 0);
}

static void test_query_parse_refuses_repeats_and_bad_utf8(void **state)
{
    gw_kv *kv = NULL;
    size_t n = 0;
    lh_error err = {0};
    assert_int_equal(gw_query_parse("a=1&a=2", &kv, &n, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "'a'"));
    assert_int_equal(gw_query_parse("a=%ff", &kv, &n, &err), LH_EINVAL);
    assert_null(kv);
}

static void test_parse_bool_and_int(void **state)
{
    bool b = false;
    int64_t v = 0;
    lh_error err = {0};
    assert_int_equal(gw_parse_bool("", &b, &err), LH_OK);
    assert_true(b);
    assert_int_equal(gw_parse_bool("FALSE", &b, &err), LH_OK);
    assert_false(b);
    assert_int_equal(gw_parse_bool("maybe", &b, &err), LH_EINVAL);
    assert_int_equal(gw_parse_int64("42", &v, &err), LH_OK);
    assert_int_equal(v, 42);
    assert_int_equal(gw_parse_int64("-1", &v, &err), LH_EINVAL);
    assert_int_equal(gw_parse_int64("4x", &v, &err), LH_EINVAL);
    assert_int_equal(gw_parse_int64("99999999999999999999", &v, &err), LH_EINVAL);
}

static void test_types_parse(void **state)
{
    char **t = NULL;
    lh_error err = {0};
    assert_int_equal(gw_types_parse("hours:DOUBLE,start:DATE", &t, &err), LH_OK);
    assert_string_equal(t[0], "hours=DOUBLE");
    assert_string_equal(t[1], "start=DATE");
    assert_null(t[2]);
    gw_strv_free(t);
    assert_int_equal(gw_types_parse("tags:VARCHAR[]", &t, &err), LH_OK);
    assert_string_equal(t[0], "tags=VARCHAR[]");
    gw_strv_free(t);
    assert_int_equal(gw_types_parse(NULL, &t, &err), LH_OK);
    assert_null(t);
    assert_int_equal(gw_types_parse("hours", &t, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "'hours'"));
    assert_int_equal(gw_types_parse("a:INT,:DATE", &t, &err), LH_EINVAL);
    assert_int_equal(gw_types_parse("a:", &t, &err), LH_EINVAL);
}

static void test_listen_parse(void **state)
{
    char *host = NULL;
    int port = -1;
    lh_error err = {0};
    assert_int_equal(gw_listen_parse("127.0.0.1:8080", &host, &port, &err), LH_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    free(host);
    assert_int_equal(gw_listen_parse("[::1]:0", &host, &port, &err), LH_OK);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 0);
    free(host);
    assert_int_equal(gw_listen_parse(":9000", &host, &port, &err), LH_OK);
    assert_string_equal(host, "0.0.0.0");
    free(host);
    assert_int_equal(gw_listen_parse("localhost", &host, &port, &err), LH_EINVAL);
    assert_int_equal(gw_listen_parse("h:70000", &host, &port, &err), LH_EINVAL);
    assert_int_equal(gw_listen_parse("h:x", &host, &port, &err), LH_EINVAL);
}

/* A scratch tree: <tmp>/in/{ok.csv, sub/deep.csv, link_out -> /etc/hostname, dir/},
 * <tmp>/out.csv. */
typedef struct {
    char root[256];
    char in[300];
} tree;

static void write_file(const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("a\n1\n", f);
    fclose(f);
}

static int tree_setup(void **state)
{
    tree *t = calloc(1, sizeof *t);
    snprintf(t->root, sizeof t->root, "/tmp/lh_gw_paths_XXXXXX");
    assert_non_null(mkdtemp(t->root));
    snprintf(t->in, sizeof t->in, "%s/in", t->root);
    char p[512];
    mkdir(t->in, 0755);
    snprintf(p, sizeof p, "%s/sub", t->in);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/dir", t->in);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/ok.csv", t->in);
    write_file(p);
    snprintf(p, sizeof p, "%s/sub/deep.csv", t->in);
    write_file(p);
    snprintf(p, sizeof p, "%s/out.csv", t->root);
    write_file(p);
    char target[512];
    snprintf(target, sizeof target, "%s/out.csv", t->root);
    snprintf(p, sizeof p, "%s/link_out", t->in);
    assert_int_equal(symlink(target, p), 0);
    snprintf(p, sizeof p, "%s/link_in", t->in);
    assert_int_equal(symlink("ok.csv", p), 0);
    *state = t;
    return 0;
}

static int tree_teardown(void **state)
{
    tree *t = *state;
    lh_rm_rf(t->root);
    free(t);
    return 0;
}

static void test_path_inside_accepts_files_in_folder(void **state)
{
    tree *t = *state;
    char *real = NULL;
    lh_error err = {0};
    assert_int_equal(gw_path_inside(t->in, "ok.csv", &real, &err), LH_OK);
    assert_non_null(strstr(real, "/in/ok.csv"));
    free(real);
    assert_int_equal(gw_path_inside(t->in, "sub/deep.csv", &real, &err), LH_OK);
    free(real);
    assert_int_equal(gw_path_inside(t->in, "link_in", &real, &err), LH_OK);
    assert_non_null(strstr(real, "/in/ok.csv"));
    free(real);
    char abs[512];
    snprintf(abs, sizeof abs, "%s/ok.csv", t->in);
    assert_int_equal(gw_path_inside(t->in, abs, &real, &err), LH_OK);
    free(real);
}

static void test_path_inside_refuses_escapes(void **state)
{
    tree *t = *state;
    char *real = NULL;
    lh_error err = {0};
    assert_int_equal(gw_path_inside(t->in, "../out.csv", &real, &err), LH_EDENIED);
    assert_non_null(strstr(err.msg, "'..'"));
    assert_int_equal(gw_path_inside(t->in, "sub/../ok.csv", &real, &err), LH_EDENIED);
    assert_int_equal(gw_path_inside(t->in, "link_out", &real, &err), LH_EDENIED);
    assert_non_null(strstr(err.msg, "outside the ingest folder"));
    assert_int_equal(gw_path_inside(t->in, "/etc/passwd", &real, &err), LH_EDENIED);
    assert_non_null(strstr(err.msg, "/etc/passwd"));
    assert_int_equal(gw_path_inside(t->in, "/etc/no_such_file", &real, &err), LH_EDENIED);
    assert_int_equal(gw_path_inside(t->in, "dir", &real, &err), LH_EDENIED);
    assert_non_null(strstr(err.msg, "regular file"));
    assert_int_equal(gw_path_inside(t->in, ".", &real, &err), LH_EDENIED);
    assert_int_equal(gw_path_inside(NULL, "ok.csv", &real, &err), LH_EDENIED);
    assert_non_null(strstr(err.msg, "disabled"));
    assert_null(real);
}

static void test_path_inside_missing_file_is_not_found(void **state)
{
    tree *t = *state;
    char *real = NULL;
    lh_error err = {0};
    assert_int_equal(gw_path_inside(t->in, "missing.csv", &real, &err), LH_ENOENT);
    assert_int_equal(gw_path_inside(t->in, "", &real, &err), LH_EINVAL);
}

static void test_ui_asset_names(void **state)
{
    lh_error err;
    assert_int_equal(gw_ui_asset_name_check("index-B3x9aZ_q.js", &err), LH_OK);
    assert_int_equal(gw_ui_asset_name_check("lakehouse.svg", &err), LH_OK);
    const char *bad[] = {"",     ".",           "..",  ".hidden",        "../etc/passwd", "a/b",
                         "a\\b", "/etc/passwd", "a b", "caf\xc3\xa9.js", "a%2e"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lh_error_clear(&err);
        if (gw_ui_asset_name_check(bad[i], &err) != LH_EINVAL)
            fail_msg("asset name '%s' was accepted", bad[i]);
        assert_true(err.msg[0] != '\0');
    }
    char longname[260];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(gw_ui_asset_name_check(longname, &err), LH_EINVAL);
    assert_int_equal(gw_ui_asset_name_check(NULL, &err), LH_EINVAL);
}

static void test_ui_hashed_names_and_types(void **state)
{
    assert_true(gw_ui_name_is_hashed("index-B3x9aZ_q.js"));
    assert_true(gw_ui_name_is_hashed("index-Ab3_x-9Z.css"));
    assert_false(gw_ui_name_is_hashed("lakehouse.svg"));
    assert_false(gw_ui_name_is_hashed("index.html"));
    assert_false(gw_ui_name_is_hashed("-B3x9aZ_q.js"));
    assert_false(gw_ui_name_is_hashed("x-B3x9a.Z_q.js"));
    assert_false(gw_ui_name_is_hashed(NULL));
    assert_string_equal(gw_content_type("index.html"), "text/html; charset=utf-8");
    assert_string_equal(gw_content_type("a-12345678.js"), "text/javascript; charset=utf-8");
    assert_string_equal(gw_content_type("a.css"), "text/css; charset=utf-8");
    assert_string_equal(gw_content_type("a.svg"), "image/svg+xml");
    assert_string_equal(gw_content_type("a.woff2"), "font/woff2");
    assert_string_equal(gw_content_type("README"), "application/octet-stream");
    assert_string_equal(gw_content_type("a.exe"), "application/octet-stream");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_matches_static_path),
        cmocka_unit_test(test_route_head_uses_get),
        cmocka_unit_test(test_route_decodes_param),
        cmocka_unit_test(test_route_encoded_slash_stays_in_segment),
        cmocka_unit_test(test_route_refuses_dot_segments),
        cmocka_unit_test(test_route_unknown_path_is_not_found),
        cmocka_unit_test(test_route_wrong_method_lists_allowed),
        cmocka_unit_test(test_route_bad_escape_is_invalid),
        cmocka_unit_test(test_table_routes_are_unique),
        cmocka_unit_test(test_openapi_matches_route_table),
        cmocka_unit_test(test_json_text_replaces_invalid_utf8),
        cmocka_unit_test(test_percent_decode),
        cmocka_unit_test(test_query_parse),
        cmocka_unit_test(test_query_parse_refuses_repeats_and_bad_utf8),
        cmocka_unit_test(test_parse_bool_and_int),
        cmocka_unit_test(test_types_parse),
        cmocka_unit_test(test_listen_parse),
        cmocka_unit_test(test_ui_asset_names),
        cmocka_unit_test(test_ui_hashed_names_and_types),
        cmocka_unit_test_setup_teardown(test_path_inside_accepts_files_in_folder, tree_setup,
                                        tree_teardown),
        cmocka_unit_test_setup_teardown(test_path_inside_refuses_escapes, tree_setup,
                                        tree_teardown),
        cmocka_unit_test_setup_teardown(test_path_inside_missing_file_is_not_found, tree_setup,
                                        tree_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
