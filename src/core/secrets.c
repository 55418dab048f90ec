/* Secrets provider: a YAML file that only its owner can read, then LAKEHOUSE_* variables.
 *
 * Values are kept apart from the configuration so that nothing that prints or serves the
 * configuration can leak them, and no message of this file ever contains a value. */
#include "core/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

static const struct {
    const char *name;
    const char *env;
} known[] = {
    {"s3_access_key_id", "LAKEHOUSE_S3_ACCESS_KEY_ID"},
    {"s3_secret_access_key", "LAKEHOUSE_S3_SECRET_ACCESS_KEY"},
    {"s3_session_token", "LAKEHOUSE_S3_SESSION_TOKEN"},
};
#define NKNOWN (sizeof known / sizeof known[0])

struct lh_secrets {
    char *values[NKNOWN];
    /* Per-bucket values from the file: "<bucket>.<known name>". */
    char **extra_names, **extra_values;
    size_t nextra;
};

/* True for "<bucket>.<known name>" with a bucket of [a-z0-9_-]. */
static bool bucket_name_ok(const char *name)
{
    const char *dot = strchr(name, '.');
    if (!dot || dot == name) return false;
    for (const char *p = name; p < dot; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return false;
    for (size_t i = 0; i < NKNOWN; i++)
        if (strcmp(dot + 1, known[i].name) == 0) return true;
    return false;
}

static int find(const char *name)
{
    for (size_t i = 0; i < NKNOWN; i++)
        if (strcmp(known[i].name, name) == 0) return (int)i;
    return -1;
}

static void wipe(char *p)
{
    if (!p) return;
    volatile char *v = p;
    while (*v)
        *v++ = 0;
    free(p);
}

/* The file must be a regular file owned by us with no group or other permission bits. */
static int check_file(const char *path, lh_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return lh_error_set(err, errno == ENOENT ? LH_ENOENT : LH_EIO, "secrets file %s: %s", path,
                            strerror(errno));
    if (!S_ISREG(st.st_mode))
        return lh_error_set(err, LH_EDENIED, "secrets file %s is not a regular file", path);
    if (st.st_uid != geteuid())
        return lh_error_set(err, LH_EDENIED,
                            "secrets file %s is owned by uid %u, not by the user running "
                            "lakehouse (uid %u); refusing to use it",
                            path, (unsigned)st.st_uid, (unsigned)geteuid());
    if (st.st_mode & 077)
        return lh_error_set(err, LH_EDENIED,
                            "secrets file %s has mode %04o: others can read it; it must be 0600 "
                            "(chmod 600 %s)",
                            path, (unsigned)(st.st_mode & 07777), path);
    return LH_OK;
}

static int load_file(lh_secrets *s, const char *path, lh_error *err)
{
    int rc = check_file(path, err);
    if (rc != LH_OK) return rc;
    FILE *f = fopen(path, "rb");
    if (!f) return lh_error_set(err, LH_EIO, "secrets file %s: %s", path, strerror(errno));
    yaml_parser_t parser;
    yaml_event_t ev;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int depth = 0;
    int want = -2; /* -2: expecting a key; >= 0: value of known[want]; -3: of extra */
    bool done = false;
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = lh_error_set(err, LH_EINVAL, "secrets file %s:%zu: YAML syntax error", path,
                              parser.problem_mark.line + 1);
            break;
        }
        size_t line = ev.start_mark.line + 1;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
            if (++depth > 1 || ev.type == YAML_SEQUENCE_START_EVENT)
                rc = lh_error_set(err, LH_EINVAL,
                                  "secrets file %s:%zu: expected a flat mapping of names to "
                                  "strings",
                                  path, line);
            break;
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_SCALAR_EVENT: {
            const char *v = (const char *)ev.data.scalar.value;
            if (depth != 1) {
                if (*v)
                    rc = lh_error_set(err, LH_EINVAL,
                                      "secrets file %s:%zu: expected a mapping at the top level",
                                      path, line);
            } else if (want == -2) {
                want = find(v);
                if (want < 0 && bucket_name_ok(v)) {
                    for (size_t i = 0; i < s->nextra; i++)
                        if (strcmp(s->extra_names[i], v) == 0)
                            rc = lh_error_set(err, LH_EINVAL,
                                              "secrets file %s:%zu: '%s' is given twice", path,
                                              line, v);
                    s->extra_names =
                        lh_realloc(s->extra_names, (s->nextra + 1) * sizeof *s->extra_names);
                    s->extra_values =
                        lh_realloc(s->extra_values, (s->nextra + 1) * sizeof *s->extra_values);
                    s->extra_names[s->nextra] = lh_strdup(v);
                    s->extra_values[s->nextra++] = NULL;
                    want = -3;
                } else if (want < 0)
                    rc = lh_error_set(err, LH_EINVAL,
                                      "secrets file %s:%zu: unknown name '%s' (known: "
                                      "s3_access_key_id, s3_secret_access_key, s3_session_token, "
                                      "each optionally as BUCKET.NAME)",
                                      path, line, v);
                else if (s->values[want])
                    rc = lh_error_set(err, LH_EINVAL, "secrets file %s:%zu: '%s' is given twice",
                                      path, line, v);
            } else if (want == -3) {
                s->extra_values[s->nextra - 1] = lh_strdup(v);
                want = -2;
            } else {
                s->values[want] = lh_strdup(v);
                want = -2;
            }
            break;
        }
        case YAML_ALIAS_EVENT:
            rc = lh_error_set(err, LH_EINVAL, "secrets file %s:%zu: aliases are not allowed", path,
                              line);
            break;
        default:
            break;
        }
        /* Scrub the parser's copy of a value before it is freed. */
        if (ev.type == YAML_SCALAR_EVENT) memset(ev.data.scalar.value, 0, ev.data.scalar.length);
        yaml_event_delete(&ev);
        if (rc != LH_OK) break;
    }
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

int lh_secrets_load(const char *path, lh_secrets **out, lh_error *err)
{
    *out = NULL;
    lh_secrets *s = lh_calloc(1, sizeof *s);
    if (path && *path) {
        int rc = load_file(s, path, err);
        if (rc != LH_OK) {
            lh_secrets_free(s);
            return rc;
        }
    }
    for (size_t i = 0; i < NKNOWN; i++) {
        const char *v = getenv(known[i].env);
        if (!v || !*v) continue;
        wipe(s->values[i]);
        s->values[i] = lh_strdup(v);
    }
    *out = s;
    return LH_OK;
}

const char *lh_secrets_get(const lh_secrets *s, const char *name)
{
    if (!s) return NULL;
    int i = find(name);
    if (i >= 0) return s->values[i];
    for (size_t j = 0; j < s->nextra; j++)
        if (strcmp(s->extra_names[j], name) == 0) return s->extra_values[j];
    return NULL;
}

void lh_secrets_free(lh_secrets *s)
{
    if (!s) return;
    for (size_t i = 0; i < NKNOWN; i++)
        wipe(s->values[i]);
    for (size_t i = 0; i < s->nextra; i++) {
        free(s->extra_names[i]);
        wipe(s->extra_values[i]);
    }
    free(s->extra_names);
    free(s->extra_values);
    free(s);
}
