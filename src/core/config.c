/* Configuration: defaults < YAML file (a flat mapping) < LAKEHOUSE_* environment. */
#include "core/config_int.h"
#include "core/core.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

typedef enum { T_STR, T_PATH_OPT, T_BOOL, T_SIZE, T_INT, T_INT64, T_LEVEL, T_STR_OPT } key_type;

typedef struct {
    const char *key;
    const char *env;
    key_type type;
    size_t off;
    int64_t min, max; /* for integer kinds */
} key_def;

#define OFF(f) offsetof(lh_config, f)
static const key_def keys[] = {
    {"data_dir", "LAKEHOUSE_DATA", T_STR, OFF(data_dir), 0, 0},
    {"listen", "LAKEHOUSE_LISTEN", T_STR, OFF(listen), 0, 0},
    {"ingest_dir", "LAKEHOUSE_INGEST_DIR", T_PATH_OPT, OFF(ingest_dir), 0, 0},
    {"cache_dir", "LAKEHOUSE_CACHE_DIR", T_STR, OFF(cache_dir), 0, 0},
    {"log_level", "LAKEHOUSE_LOG_LEVEL", T_LEVEL, OFF(log_level), 0, 0},
    {"log_json", "LAKEHOUSE_LOG_JSON", T_BOOL, OFF(log_json), 0, 0},
    {"max_body_bytes", "LAKEHOUSE_MAX_BODY", T_SIZE, OFF(max_body_bytes), 1, INT64_MAX},
    {"max_json_bytes", "LAKEHOUSE_MAX_JSON", T_SIZE, OFF(max_json_bytes), 1, INT64_MAX},
    {"threads", "LAKEHOUSE_THREADS", T_INT, OFF(threads), 1, 1024},
    {"query_memory_mb", "LAKEHOUSE_QUERY_MEMORY_MB", T_INT64, OFF(query_memory_mb), 16,
     INT64_MAX / (1024 * 1024)},
    {"query_timeout_ms", "LAKEHOUSE_QUERY_TIMEOUT_MS", T_INT, OFF(query_timeout_ms), 1, INT_MAX},
    {"query_row_limit", "LAKEHOUSE_QUERY_ROW_LIMIT", T_INT64, OFF(query_row_limit), 1, INT64_MAX},
    {"query_threads", "LAKEHOUSE_QUERY_THREADS", T_INT, OFF(query_threads), 1, 1024},
    {"glove_path", "LAKEHOUSE_GLOVE_PATH", T_STR, OFF(glove_path), 0, 0},
    {"embedder", "LAKEHOUSE_EMBEDDER", T_STR, OFF(embedder), 0, 0},
    {"embedder_url", "LAKEHOUSE_EMBEDDER_URL", T_STR, OFF(embedder_url), 0, 0},
    {"embedder_model", "LAKEHOUSE_EMBEDDER_MODEL", T_STR, OFF(embedder_model), 0, 0},
    {"generator", "LAKEHOUSE_GENERATOR", T_STR, OFF(generator), 0, 0},
    {"generator_url", "LAKEHOUSE_GENERATOR_URL", T_STR, OFF(generator_url), 0, 0},
    {"generator_model", "LAKEHOUSE_GENERATOR_MODEL", T_STR, OFF(generator_model), 0, 0},
    {"ai_api_key", "LAKEHOUSE_AI_API_KEY", T_STR, OFF(ai_api_key), 0, 0},
    {"ai_timeout_ms", "LAKEHOUSE_AI_TIMEOUT_MS", T_INT, OFF(ai_timeout_ms), 1, INT_MAX},
    {"ui_dir", "LAKEHOUSE_UI_DIR", T_STR, OFF(ui_dir), 0, 0},
    {"storage_backend", "LAKEHOUSE_STORAGE", T_STR, OFF(storage_backend), 0, 0},
    {"s3_endpoint", "LAKEHOUSE_S3_ENDPOINT", T_STR_OPT, OFF(s3_endpoint), 0, 0},
    {"s3_region", "LAKEHOUSE_S3_REGION", T_STR, OFF(s3_region), 0, 0},
    {"s3_bucket", "LAKEHOUSE_S3_BUCKET", T_STR_OPT, OFF(s3_bucket), 0, 0},
    {"s3_prefix", "LAKEHOUSE_S3_PREFIX", T_STR_OPT, OFF(s3_prefix), 0, 0},
    {"s3_path_style", "LAKEHOUSE_S3_PATH_STYLE", T_BOOL, OFF(s3_path_style), 0, 0},
    {"s3_multipart_threshold", "LAKEHOUSE_S3_MULTIPART_THRESHOLD", T_SIZE,
     OFF(s3_multipart_threshold), 1, INT64_MAX},
    {"s3_part_size", "LAKEHOUSE_S3_PART_SIZE", T_SIZE, OFF(s3_part_size), (int64_t)5 << 20,
     INT64_MAX},
    {"s3_retry_max_ms", "LAKEHOUSE_S3_RETRY_MAX_MS", T_INT, OFF(s3_retry_max_ms), 1, INT_MAX},
    {"s3_timeout_ms", "LAKEHOUSE_S3_TIMEOUT_MS", T_INT, OFF(s3_timeout_ms), 1, INT_MAX},
    {"s3_conditional_put", "LAKEHOUSE_S3_CONDITIONAL_PUT", T_STR, OFF(s3_conditional_put), 0, 0},
    {"s3_lease_ttl_ms", "LAKEHOUSE_S3_LEASE_TTL_MS", T_INT, OFF(s3_lease_ttl_ms), 300, INT_MAX},
    {"cache_max_bytes", "LAKEHOUSE_CACHE_MAX", T_SIZE, OFF(cache_max_bytes), 1, INT64_MAX},
    {"cache_grace_ms", "LAKEHOUSE_CACHE_GRACE_MS", T_INT, OFF(cache_grace_ms), 0, INT_MAX},
    {"secrets_file", "LAKEHOUSE_SECRETS_FILE", T_STR_OPT, OFF(secrets_file), 0, 0},
    {"bucket", "LAKEHOUSE_BUCKET", T_STR, OFF(bucket), 0, 0},
    {"rescue_bucket", "LAKEHOUSE_RESCUE_BUCKET", T_STR_OPT, OFF(rescue_bucket), 0, 0},
    {"retention_hours", "LAKEHOUSE_RETENTION_HOURS", T_INT, OFF(retention_hours), 0, INT_MAX},
    {"compact_delta_files", "LAKEHOUSE_COMPACT_DELTA_FILES", T_INT, OFF(compact_delta_files), 0,
     INT_MAX},
    {"wal_max_rows", "LAKEHOUSE_WAL_MAX_ROWS", T_INT, OFF(wal_max_rows), 0, 1000000},
    {"wal_flush_ms", "LAKEHOUSE_WAL_FLUSH_MS", T_INT, OFF(wal_flush_ms), 1, 3600000},
    {"cache_auto_admit", "LAKEHOUSE_CACHE_AUTO_ADMIT", T_BOOL, OFF(cache_auto_admit), 0, 0},
    {"cache_admit_key_lookups", "LAKEHOUSE_CACHE_ADMIT_KEY_LOOKUPS", T_BOOL,
     OFF(cache_admit_key_lookups), 0, 0},
    {"cache_memory_mb", "LAKEHOUSE_CACHE_MEMORY_MB", T_INT64, OFF(cache_memory_mb), 0,
     INT64_MAX / (1024 * 1024)},
};
#define NKEYS (sizeof keys / sizeof keys[0])

static const char known_keys[] =
    "data_dir, listen, ingest_dir, cache_dir, log_level, log_json, "
    "max_body_bytes, max_json_bytes, threads, query_memory_mb, "
    "query_timeout_ms, query_row_limit, query_threads, glove_path, "
    "embedder, embedder_url, embedder_model, generator, "
    "generator_url, generator_model, ai_api_key, ai_timeout_ms, "
    "ui_dir, storage_backend, s3_endpoint, s3_region, s3_bucket, "
    "s3_prefix, s3_path_style, s3_multipart_threshold, s3_part_size, "
    "s3_retry_max_ms, s3_timeout_ms, s3_conditional_put, "
    "s3_lease_ttl_ms, cache_max_bytes, cache_grace_ms, secrets_file, bucket, "
    "rescue_bucket, buckets, retention_hours, compact_delta_files, wal_max_rows, wal_flush_ms, "
    "cache_memory_mb, cache_auto_admit, cache_admit_key_lookups";

static const key_def *find_key(const char *key)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].key, key) == 0) return &keys[i];
    return NULL;
}

/* "<parent of data_dir>/<leaf>", lexically: "./lake" -> "./ingest", "/srv/lake/" ->
 * "/srv/ingest". */
static char *sibling_of(const char *dir, const char *leaf)
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    size_t slash = len;
    while (slash > 0 && dir[slash - 1] != '/')
        slash--;
    const char *base = dir + slash;
    size_t base_len = len - slash;
    if (base_len == 0 || (base_len == 1 && base[0] == '.') ||
        (base_len == 2 && base[0] == '.' && base[1] == '.'))
        return lh_sprintf("%.*s/../%s", (int)len, dir, leaf);
    if (slash == 0) return lh_sprintf("./%s", leaf);
    if (slash == 1) return lh_sprintf("/%s", leaf);
    return lh_sprintf("%.*s%s", (int)slash, dir, leaf);
}

/* Recomputes the defaults that follow data_dir, unless they were set explicitly. */
static void derive_dirs(lh_config *cfg)
{
    if (!cfg->ingest_dir_set) {
        free(cfg->ingest_dir);
        cfg->ingest_dir = sibling_of(cfg->data_dir, "ingest");
    }
    if (!cfg->cache_dir_set) {
        free(cfg->cache_dir);
        cfg->cache_dir = lh_path_join(cfg->data_dir, ".cache");
    }
}

static void set_defaults(lh_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    int cores = lh_cpu_count();
    cfg->data_dir = lh_strdup("./lake");
    cfg->listen = lh_strdup("127.0.0.1:8080");
    cfg->log_level = lh_strdup("info");
    cfg->log_json = false;
    cfg->max_body_bytes = (int64_t)1 << 30;
    cfg->max_json_bytes = (int64_t)1 << 20;
    cfg->threads = 2 * cores;
    int64_t mem = lh_mem_total();
    cfg->query_memory_mb = mem > 0 ? mem / 4 / (1024 * 1024) : 1024;
    if (cfg->query_memory_mb < 256) cfg->query_memory_mb = 256;
    cfg->query_timeout_ms = 30000;
    cfg->query_row_limit = 10000;
    cfg->query_threads = cores;
    cfg->embedder = lh_strdup("glove");
    cfg->generator = lh_strdup("none");
    cfg->ai_timeout_ms = 60000;
    cfg->storage_backend = lh_strdup("local");
    cfg->s3_region = lh_strdup("us-east-1");
    cfg->s3_path_style = true;
    cfg->s3_multipart_threshold = (int64_t)64 << 20;
    cfg->s3_part_size = (int64_t)16 << 20;
    cfg->s3_retry_max_ms = 20000;
    cfg->s3_timeout_ms = 30000;
    cfg->s3_conditional_put = lh_strdup("auto");
    cfg->s3_lease_ttl_ms = 30000;
    cfg->cache_max_bytes = (int64_t)10 << 30;
    cfg->cache_grace_ms = 10000;
    cfg->bucket = lh_strdup("primary");
    cfg->retention_hours = 168;
    cfg->compact_delta_files = 64;
    cfg->wal_max_rows = 1000;
    cfg->wal_flush_ms = 100;
    cfg->cache_memory_mb = 0;
    cfg->cache_admit_key_lookups = true;
    derive_dirs(cfg);
}

static bool parse_bool(const char *v, bool *out)
{
    static const char *yes[] = {"true", "yes", "on", "1"};
    static const char *no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static bool parse_int64(const char *v, int64_t *out)
{
    if (!*v) return false;
    errno = 0;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (errno || *end != '\0' || end == v) return false;
    *out = x;
    return true;
}

int lh_config_set(lh_config *cfg, const char *key, const char *value, lh_error *err)
{
    const key_def *k = find_key(key);
    if (!k) return lh_error_set(err, LH_EINVAL, "unknown key '%s' (known: %s)", key, known_keys);
    if (!value) value = "";
    void *field = (char *)cfg + k->off;
    int64_t n;
    switch (k->type) {
    case T_STR:
        if (!*value)
            return lh_error_set(err, LH_EINVAL, "key '%s': expected a non-empty string", key);
        free(*(char **)field);
        *(char **)field = lh_strdup(value);
        if (strcmp(key, "data_dir") == 0)
            derive_dirs(cfg);
        else if (strcmp(key, "cache_dir") == 0)
            cfg->cache_dir_set = true;
        return LH_OK;
    case T_PATH_OPT:
        free(*(char **)field);
        if (!*value || strcasecmp(value, "off") == 0 || strcasecmp(value, "none") == 0)
            *(char **)field = NULL;
        else
            *(char **)field = lh_strdup(value);
        cfg->ingest_dir_set = true;
        return LH_OK;
    case T_STR_OPT:
        free(*(char **)field);
        *(char **)field = *value ? lh_strdup(value) : NULL;
        return LH_OK;
    case T_LEVEL: {
        lh_log_level lv;
        if (lh_log_level_parse(value, &lv) != LH_OK)
            return lh_error_set(err, LH_EINVAL,
                                "key '%s': expected one of debug, info, warn, error, off; got "
                                "'%s'",
                                key, value);
        free(*(char **)field);
        *(char **)field = lh_strdup(value);
        return LH_OK;
    }
    case T_BOOL:
        if (!parse_bool(value, (bool *)field))
            return lh_error_set(err, LH_EINVAL, "key '%s': expected true or false, got '%s'", key,
                                value);
        return LH_OK;
    case T_SIZE:
        if (lh_parse_size(value, &n) != LH_OK || n < k->min)
            return lh_error_set(err, LH_EINVAL,
                                "key '%s': expected a size like 512, 64k, 10MB or 1GiB, got '%s'",
                                key, value);
        *(int64_t *)field = n;
        return LH_OK;
    case T_INT:
    case T_INT64:
        if (!parse_int64(value, &n))
            return lh_error_set(err, LH_EINVAL, "key '%s': expected an integer, got '%s'", key,
                                value);
        if (n < k->min || n > k->max)
            return lh_error_set(err, LH_EINVAL, "key '%s': %lld is out of range [%lld, %lld]", key,
                                (long long)n, (long long)k->min, (long long)k->max);
        if (k->type == T_INT)
            *(int *)field = (int)n;
        else
            *(int64_t *)field = n;
        return LH_OK;
    }
    return lh_error_set(err, LH_EINTERNAL, "key '%s': unhandled type", key);
}

static const char *yaml_event_what(yaml_event_type_t t)
{
    switch (t) {
    case YAML_SEQUENCE_START_EVENT:
        return "a list";
    case YAML_MAPPING_START_EVENT:
        return "a mapping";
    case YAML_ALIAS_EVENT:
        return "an alias";
    default:
        return "something else";
    }
}

/* True for YAML's plain-scalar spellings of null. */
static bool yaml_is_null(const yaml_event_t *ev)
{
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
    const char *v = (const char *)ev->data.scalar.value;
    return !*v || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
           strcmp(v, "NULL") == 0;
}

static int load_file(lh_config *cfg, const char *path, lh_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return lh_error_set(err, errno == ENOENT ? LH_ENOENT : LH_EIO, "config %s: %s", path,
                            strerror(errno));
    yaml_parser_t parser;
    yaml_event_t ev;
    bool have_ev = false;
    int rc = LH_OK;
    char *key = NULL;
    size_t key_line = 0;
    bool seen[NKEYS] = {false};
    enum { S_TOP, S_DOC, S_MAP_KEY, S_MAP_VALUE, S_DOC_END, S_DONE } st = S_TOP;

    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        return lh_error_set(err, LH_ENOMEM, "config %s: cannot initialise YAML parser", path);
    }
    yaml_parser_set_input_file(&parser, f);
    while (st != S_DONE) {
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = lh_error_set(err, LH_EINVAL, "%s:%zu:%zu: YAML syntax error: %s", path,
                              parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                              parser.problem ? parser.problem : "unknown");
            goto fail;
        }
        have_ev = true;
        size_t line = ev.start_mark.line + 1;
        switch (st) {
        case S_TOP:
            if (ev.type == YAML_STREAM_START_EVENT) break;
            if (ev.type == YAML_DOCUMENT_START_EVENT)
                st = S_DOC;
            else if (ev.type == YAML_STREAM_END_EVENT)
                st = S_DONE; /* empty file: nothing to set */
            break;
        case S_DOC:
            if (ev.type == YAML_MAPPING_START_EVENT) {
                st = S_MAP_KEY;
            } else if (ev.type == YAML_SCALAR_EVENT && yaml_is_null(&ev)) {
                st = S_DOC_END; /* a document holding only comments */
            } else {
                rc = lh_error_set(err, LH_EINVAL,
                                  "%s:%zu: expected a mapping of keys to values at the top level",
                                  path, line);
                goto fail;
            }
            break;
        case S_MAP_KEY:
            if (ev.type == YAML_MAPPING_END_EVENT) {
                st = S_DOC_END;
                break;
            }
            if (ev.type != YAML_SCALAR_EVENT) {
                rc = lh_error_set(err, LH_EINVAL, "%s:%zu: expected a key, got %s", path, line,
                                  yaml_event_what(ev.type));
                goto fail;
            }
            key = lh_strdup((const char *)ev.data.scalar.value);
            key_line = line;
            if (strcmp(key, "buckets") == 0) { /* the one nested section */
                if (cfg->buckets)
                    rc = lh_error_set(err, LH_EINVAL, "%s:%zu: key 'buckets' is given twice", path,
                                      line);
                else
                    rc = config_parse_buckets(&parser, cfg, path, err);
                if (rc != LH_OK) goto fail;
                free(key);
                key = NULL;
                break;
            }
            const key_def *k = find_key(key);
            if (!k) {
                rc = lh_error_set(err, LH_EINVAL, "%s:%zu: unknown key '%s' (known: %s)", path,
                                  line, key, known_keys);
                goto fail;
            }
            if (seen[k - keys]) {
                rc = lh_error_set(err, LH_EINVAL, "%s:%zu: key '%s' is given twice", path, line,
                                  key);
                goto fail;
            }
            seen[k - keys] = true;
            st = S_MAP_VALUE;
            break;
        case S_MAP_VALUE:
            if (ev.type != YAML_SCALAR_EVENT) {
                rc = lh_error_set(err, LH_EINVAL, "%s:%zu: key '%s': expected a value, got %s",
                                  path, line, key, yaml_event_what(ev.type));
                goto fail;
            }
            const key_def *kd = find_key(key);
            const char *value = (const char *)ev.data.scalar.value;
            if (yaml_is_null(&ev)) {
                if (kd->type != T_PATH_OPT && kd->type != T_STR_OPT) {
                    rc = lh_error_set(err, LH_EINVAL, "%s:%zu: key '%s': missing value", path,
                                      key_line, key);
                    goto fail;
                }
                value = "";
            }
            rc = lh_config_set(cfg, key, value, err);
            if (rc != LH_OK) {
                lh_error_prefix(err, "%s:%zu", path, line);
                goto fail;
            }
            free(key);
            key = NULL;
            st = S_MAP_KEY;
            break;
        case S_DOC_END:
            if (ev.type == YAML_DOCUMENT_END_EVENT) break;
            if (ev.type == YAML_STREAM_END_EVENT) {
                st = S_DONE;
                break;
            }
            rc = lh_error_set(err, LH_EINVAL, "%s:%zu: only one YAML document is allowed", path,
                              line);
            goto fail;
        case S_DONE:
            break;
        }
        yaml_event_delete(&ev);
        have_ev = false;
    }
fail:
    if (have_ev) yaml_event_delete(&ev);
    free(key);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

static int load_env(lh_config *cfg, lh_error *err)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const char *v = getenv(keys[i].env);
        if (!v || !*v) continue; /* empty means unset; LAKEHOUSE_INGEST_DIR=off disables */
        int rc = lh_config_set(cfg, keys[i].key, v, err);
        if (rc != LH_OK) return lh_error_wrap(err, rc, "environment %s", keys[i].env);
    }
    return LH_OK;
}

int lh_config_load(lh_config *cfg, const char *path, lh_error *err)
{
    lh_config tmp;
    set_defaults(&tmp);
    int rc = LH_OK;
    if (path) {
        rc = load_file(&tmp, path, err);
        if (rc != LH_OK) goto fail;
    }
    rc = load_env(&tmp, err);
    if (rc != LH_OK) goto fail;
    *cfg = tmp;
    return LH_OK;
fail:
    lh_config_free(&tmp);
    set_defaults(cfg);
    return rc;
}

void lh_config_free(lh_config *cfg)
{
    if (!cfg) return;
    free(cfg->data_dir);
    free(cfg->listen);
    free(cfg->ingest_dir);
    free(cfg->cache_dir);
    free(cfg->log_level);
    free(cfg->glove_path);
    free(cfg->embedder);
    free(cfg->embedder_url);
    free(cfg->embedder_model);
    free(cfg->generator);
    free(cfg->generator_url);
    free(cfg->generator_model);
    free(cfg->ai_api_key);
    free(cfg->ui_dir);
    cfg->data_dir = cfg->listen = cfg->ingest_dir = cfg->cache_dir = cfg->log_level = NULL;
    cfg->glove_path = cfg->embedder = cfg->embedder_url = cfg->embedder_model = NULL;
    cfg->generator = cfg->generator_url = cfg->generator_model = cfg->ai_api_key = NULL;
    cfg->ui_dir = NULL;
    char **more[] = {
        &cfg->storage_backend,    &cfg->s3_endpoint, &cfg->s3_region,    &cfg->s3_bucket,
        &cfg->s3_conditional_put, &cfg->s3_prefix,   &cfg->secrets_file, &cfg->bucket,
        &cfg->rescue_bucket};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
        free(*more[i]);
        *more[i] = NULL;
    }
    config_free_buckets(cfg);
}

void lh_config_copy(lh_config *dst, const lh_config *src)
{
    *dst = *src;
    /* Every string field is a key of the table, so the table says what to duplicate. */
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].type != T_STR && keys[i].type != T_PATH_OPT && keys[i].type != T_LEVEL &&
            keys[i].type != T_STR_OPT)
            continue;
        char **f = (char **)((char *)dst + keys[i].off);
        if (*f) *f = lh_strdup(*f);
    }
    config_copy_buckets(dst, src);
}

int lh_parse_size(const char *s, int64_t *out)
{
    if (!s) return LH_EINVAL;
    const char *p = s;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p < '0' || *p > '9') return LH_EINVAL;
    uint64_t whole = 0;
    while (*p >= '0' && *p <= '9') {
        if (whole > (UINT64_MAX - 9) / 10) return LH_EINVAL;
        whole = whole * 10 + (uint64_t)(*p - '0');
        p++;
    }
    /* Optional fraction ("1.5G"), kept to 6 digits. */
    uint64_t frac = 0, frac_div = 1;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9') return LH_EINVAL;
        while (*p >= '0' && *p <= '9') {
            if (frac_div < 1000000) {
                frac = frac * 10 + (uint64_t)(*p - '0');
                frac_div *= 10;
            }
            p++;
        }
    }
    while (*p == ' ' || *p == '\t')
        p++;
    /* Units are powers of 1024 whichever spelling is used (k, kb, kib), like PostgreSQL. */
    uint64_t mult = 1;
    const char *u = p;
    size_t ulen = strlen(u);
    while (ulen > 0 && (u[ulen - 1] == ' ' || u[ulen - 1] == '\t'))
        ulen--;
    if (ulen > 0) {
        char c = (char)(u[0] | 0x20);
        int shift;
        switch (c) {
        case 'b':
            shift = 0;
            break;
        case 'k':
            shift = 10;
            break;
        case 'm':
            shift = 20;
            break;
        case 'g':
            shift = 30;
            break;
        case 't':
            shift = 40;
            break;
        default:
            return LH_EINVAL;
        }
        mult = (uint64_t)1 << shift;
        if (c == 'b') {
            if (ulen != 1) return LH_EINVAL;
        } else if (ulen == 1) {
        } else if (ulen == 2 && (u[1] | 0x20) == 'b') {
        } else if (ulen == 3 && (u[1] | 0x20) == 'i' && (u[2] | 0x20) == 'b') {
        } else {
            return LH_EINVAL;
        }
    } else if (frac) {
        return LH_EINVAL; /* "1.5" bytes makes no sense */
    }
    if (whole > (uint64_t)INT64_MAX / mult) return LH_EINVAL;
    uint64_t total = whole * mult + (frac * mult) / frac_div;
    if (total > (uint64_t)INT64_MAX) return LH_EINVAL;
    *out = (int64_t)total;
    return LH_OK;
}
