/* The `buckets:` section of the configuration file: named buckets besides "primary".
 *
 *   buckets:
 *     rescue:
 *       storage_backend: local
 *       data_dir: /srv/rescue
 *     archive:
 *       storage_backend: s3
 *       s3_endpoint: http://127.0.0.1:9000
 *       s3_bucket: archive
 *       rescue_bucket: rescue
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config_int.h"

static const char known_keys[] =
    "storage_backend, data_dir, s3_endpoint, s3_region, s3_bucket, s3_prefix, s3_path_style, "
    "rescue_bucket";

static bool name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > 63) return false;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return false;
    return true;
}

static char **field(lh_bucket_def *b, const char *key)
{
    if (strcmp(key, "storage_backend") == 0) return &b->backend;
    if (strcmp(key, "data_dir") == 0) return &b->data_dir;
    if (strcmp(key, "s3_endpoint") == 0) return &b->s3_endpoint;
    if (strcmp(key, "s3_region") == 0) return &b->s3_region;
    if (strcmp(key, "s3_bucket") == 0) return &b->s3_bucket;
    if (strcmp(key, "s3_prefix") == 0) return &b->s3_prefix;
    if (strcmp(key, "rescue_bucket") == 0) return &b->rescue_bucket;
    return NULL;
}

static void free_def(lh_bucket_def *b)
{
    free(b->name);
    free(b->backend);
    free(b->data_dir);
    free(b->s3_endpoint);
    free(b->s3_region);
    free(b->s3_bucket);
    free(b->s3_prefix);
    free(b->rescue_bucket);
}

void config_free_buckets(lh_config *cfg)
{
    for (size_t i = 0; i < cfg->nbuckets; i++)
        free_def(&cfg->buckets[i]);
    free(cfg->buckets);
    cfg->buckets = NULL;
    cfg->nbuckets = 0;
}

/* Checks one finished definition. */
static int check_def(const lh_bucket_def *b, const char *path, size_t line, lh_error *err)
{
    const char *be = b->backend ? b->backend : "";
    if (strcmp(be, "local") == 0) {
        if (!b->data_dir)
            return lh_error_set(err, LH_EINVAL,
                                "%s:%zu: bucket '%s': a local bucket needs data_dir", path, line,
                                b->name);
    } else if (strcmp(be, "s3") == 0) {
        if (!b->s3_endpoint || !b->s3_bucket)
            return lh_error_set(err, LH_EINVAL,
                                "%s:%zu: bucket '%s': an s3 bucket needs s3_endpoint and s3_bucket",
                                path, line, b->name);
    } else {
        return lh_error_set(err, LH_EINVAL,
                            "%s:%zu: bucket '%s': storage_backend must be local or s3, got '%s'",
                            path, line, b->name, be);
    }
    return LH_OK;
}

int config_parse_buckets(yaml_parser_t *parser, lh_config *cfg, const char *path, lh_error *err)
{
    yaml_event_t ev;
    int rc = LH_OK;
    int depth = 0; /* 1: inside buckets, 2: inside one bucket */
    char *key = NULL;
    lh_bucket_def *cur = NULL;
    size_t cur_line = 0;
    config_free_buckets(cfg);
    for (;;) {
        if (!yaml_parser_parse(parser, &ev))
            return lh_error_set(err, LH_EINVAL, "%s:%zu:%zu: YAML syntax error: %s", path,
                                parser->problem_mark.line + 1, parser->problem_mark.column + 1,
                                parser->problem ? parser->problem : "unknown");
        size_t line = ev.start_mark.line + 1;
        const char *v = ev.type == YAML_SCALAR_EVENT ? (const char *)ev.data.scalar.value : NULL;
        bool done = false;
        switch (ev.type) {
        case YAML_MAPPING_START_EVENT:
            if (depth == 0) {
                depth = 1;
            } else if (depth == 1 && cur) {
                depth = 2;
            } else {
                rc = lh_error_set(err, LH_EINVAL, "%s:%zu: buckets: unexpected nested mapping",
                                  path, line);
            }
            break;
        case YAML_MAPPING_END_EVENT:
            if (depth == 2) {
                if (key)
                    rc = lh_error_set(err, LH_EINVAL, "%s:%zu: bucket '%s': key '%s' has no value",
                                      path, line, cur->name, key);
                else
                    rc = check_def(cur, path, cur_line, err);
                cur = NULL;
                depth = 1;
            } else {
                if (cur)
                    rc = lh_error_set(err, LH_EINVAL, "%s:%zu: bucket '%s' has no settings", path,
                                      cur_line, cur->name);
                done = true;
            }
            break;
        case YAML_SCALAR_EVENT:
            if (depth == 0) {
                if (*v)
                    rc = lh_error_set(err, LH_EINVAL,
                                      "%s:%zu: buckets: expected a mapping of bucket names", path,
                                      line);
                done = true; /* "buckets:" with no value: none */
            } else if (depth == 1) {
                if (cur) {
                    rc = lh_error_set(err, LH_EINVAL, "%s:%zu: bucket '%s' has no settings", path,
                                      cur_line, cur->name);
                    break;
                }
                if (!name_ok(v) || strcmp(v, "primary") == 0) {
                    rc = lh_error_set(err, LH_EINVAL,
                                      "%s:%zu: bucket name '%s': use 1-63 of a-z 0-9 _ - (and "
                                      "not 'primary', which is the top-level storage)",
                                      path, line, v);
                    break;
                }
                for (size_t i = 0; i < cfg->nbuckets; i++)
                    if (strcmp(cfg->buckets[i].name, v) == 0)
                        rc = lh_error_set(err, LH_EINVAL, "%s:%zu: bucket '%s' is given twice",
                                          path, line, v);
                if (rc) break;
                cfg->buckets = lh_realloc(cfg->buckets, (cfg->nbuckets + 1) * sizeof *cfg->buckets);
                cur = &cfg->buckets[cfg->nbuckets++];
                memset(cur, 0, sizeof *cur);
                cur->name = lh_strdup(v);
                cur->s3_path_style = -1;
                cur_line = line;
            } else if (!key) {
                key = lh_strdup(v);
                if (strcmp(key, "s3_path_style") != 0 && !field(cur, key))
                    rc = lh_error_set(err, LH_EINVAL,
                                      "%s:%zu: bucket '%s': unknown key '%s' (known: %s)", path,
                                      line, cur->name, key, known_keys);
            } else {
                if (strcmp(key, "s3_path_style") == 0) {
                    if (strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0)
                        cur->s3_path_style = 1;
                    else if (strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0)
                        cur->s3_path_style = 0;
                    else
                        rc = lh_error_set(err, LH_EINVAL,
                                          "%s:%zu: bucket '%s': s3_path_style: expected true or "
                                          "false, got '%s'",
                                          path, line, cur->name, v);
                } else {
                    char **f = field(cur, key);
                    if (*f)
                        rc = lh_error_set(err, LH_EINVAL,
                                          "%s:%zu: bucket '%s': key '%s' is given twice", path,
                                          line, cur->name, key);
                    else
                        *f = lh_strdup(v);
                }
                free(key);
                key = NULL;
            }
            break;
        default:
            rc = lh_error_set(err, LH_EINVAL,
                              "%s:%zu: buckets: expected a mapping of names to settings", path,
                              line);
            break;
        }
        yaml_event_delete(&ev);
        if (rc || done) break;
    }
    free(key);
    if (rc) config_free_buckets(cfg);
    return rc;
}
