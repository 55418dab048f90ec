/* Mutation subcommands: upsert, delete, key (primary key), journal (history of a record). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/duckdb_capi.h"
#include "ingest/ingest.h"
#include "query/query.h"

#define MAX_FLAGS 16
#define MAX_KEYS 4096

static const char *upsert_help =
    "usage: lakehouse upsert DATASET FILE [--format csv|ndjson|auto] [--reason TEXT]\n"
    "Inserts or updates the rows of FILE by the dataset's primary key, as one new version\n"
    "that adds a small delta file (base files are never rewritten). Columns absent from\n"
    "FILE keep their values. Duplicate keys in FILE: the last row wins (reported).\n";

static const char *delete_help =
    "usage: lakehouse delete DATASET (--key VALUE[,VALUE]... | FILE) [--reason TEXT]\n"
    "Deletes rows by primary key as one new version. --key may repeat; a composite key is\n"
    "given as comma-separated values in key column order. FILE (CSV/NDJSON) holds the key\n"
    "columns. Keys that do not exist are reported, not an error.\n";

static const char *key_help =
    "usage: lakehouse key DATASET COLUMN[,COLUMN] [--reason TEXT]\n"
    "Declares the dataset's primary key (a new version). Refused, naming the offending key\n"
    "values, if the data has duplicate or missing keys.\n";

static void print_upsert(const char *dataset, const lh_upsert_result *r, bool del)
{
    if (r->noop)
        printf("%s: nothing changed; stays at version %" PRId64 "\n", dataset, r->version);
    else if (del)
        printf("%s: %" PRId64 " deleted → version %" PRId64 " (%" PRId64 " journal events, "
               "%.1f ms)\n",
               dataset, r->deleted, r->version, r->events, r->seconds * 1e3);
    else
        printf("%s: %" PRId64 " inserted, %" PRId64 " updated, %" PRId64 " unchanged → version "
               "%" PRId64 " (%" PRId64 " journal events, %.1f ms)\n",
               dataset, r->inserted, r->updated, r->unchanged, r->version, r->events,
               r->seconds * 1e3);
    if (r->duplicates)
        printf("  %" PRId64 " input rows had a key seen again later (last wins): %s\n",
               r->duplicates, r->duplicate_keys);
    if (r->absent) printf("  %" PRId64 " keys did not exist: %s\n", r->absent, r->absent_keys);
}

/* Writes the --key values as a CSV file with the key columns as header; caller unlinks. */
static int keys_file(cli_env *env, const char *dataset, const char **keys, int nkeys,
                     char **out_path, lh_error *err)
{
    lh_manifest *m = NULL;
    int rc = lh_catalog_get(env->cat, &lh_identity_default, dataset, 0, &m, err);
    if (rc) return rc;
    if (!m->nkey) {
        rc = lh_error_set(err, LH_EINVAL, "dataset '%s' has no primary key", dataset);
        lh_manifest_free(m);
        return rc;
    }
    char *path =
        lh_sprintf("%s/lh-delete-%d-%" PRId64 ".csv", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
                   (int)getpid(), lh_wall_us());
    FILE *f = fopen(path, "wb");
    if (!f) {
        rc = lh_error_set(err, LH_EIO, "%s: cannot create", path);
        goto done;
    }
    lh_buf b = {0};
    for (size_t i = 0; i < m->nkey; i++) {
        if (i) lh_buf_putc(&b, ',');
        lh_buf_printf(&b, "\"%s\"", m->key[i]);
    }
    lh_buf_putc(&b, '\n');
    for (int k = 0; k < nkeys; k++) {
        const char *p = keys[k];
        for (size_t i = 0; i < m->nkey; i++) {
            const char *e = i + 1 < m->nkey ? strchr(p, ',') : NULL;
            if (i + 1 < m->nkey && !e) {
                rc = lh_error_set(err, LH_EINVAL,
                                  "--key '%s': dataset '%s' has a %zu-column key; give the "
                                  "values comma-separated",
                                  keys[k], dataset, m->nkey);
                break;
            }
            size_t n = e ? (size_t)(e - p) : strlen(p);
            lh_buf_puts(&b, i ? ",\"" : "\"");
            for (size_t j = 0; j < n; j++) {
                if (p[j] == '"') lh_buf_putc(&b, '"');
                lh_buf_putc(&b, p[j]);
            }
            lh_buf_putc(&b, '"');
            p = e ? e + 1 : p + n;
        }
        lh_buf_putc(&b, '\n');
        if (rc) break;
    }
    if (!rc && fwrite(b.data, 1, b.len, f) != b.len)
        rc = lh_error_set(err, LH_EIO, "%s: write failed", path);
    fclose(f);
    lh_buf_free(&b);
done:
    lh_manifest_free(m);
    if (rc) {
        unlink(path);
        free(path);
    } else {
        *out_path = path;
    }
    return rc;
}

/* upsert and delete share everything but the flag. */
static int mutate(int argc, char **argv, bool del)
{
    const char *cmd = del ? "delete" : "upsert";
    const char *help = del ? delete_help : upsert_help;
    const char *config_path = NULL;
    char *flags[MAX_FLAGS];
    int nflags;
    if ((argc = cli_take_common(argc, argv, &config_path, flags, &nflags)) < 0) return 2;
    const char *dataset = NULL, *file = NULL, *format = "auto", *reason = NULL;
    const char **keys = lh_calloc(argc + 1, sizeof *keys);
    int nkeys = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(help, stdout);
            free(keys);
            return 0;
        } else if (strcmp(a, "--format") == 0 && i + 1 < argc) {
            format = argv[++i];
        } else if (strcmp(a, "--reason") == 0 && i + 1 < argc) {
            reason = argv[++i];
        } else if (del && strcmp(a, "--key") == 0 && i + 1 < argc && nkeys < MAX_KEYS) {
            keys[nkeys++] = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "lakehouse %s: unknown option '%s'\n%s", cmd, a, help);
            free(keys);
            return 2;
        } else if (!dataset) {
            dataset = a;
        } else if (!file) {
            file = a;
        } else {
            fprintf(stderr, "lakehouse %s: unexpected argument '%s'\n%s", cmd, a, help);
            free(keys);
            return 2;
        }
    }
    if (!dataset || (!file && !nkeys) || (file && nkeys)) {
        fputs(help, stderr);
        free(keys);
        return 2;
    }
    lh_error err = {0};
    lh_upsert_opts o = {.dataset = dataset,
                        .source = "cli",
                        .reason = reason,
                        .delete_rows = del,
                        .source_name = file};
    if (lh_ingest_format_parse(format, &o.format, &err)) {
        cli_fail(cmd, &err);
        free(keys);
        return 2;
    }
    cli_env env;
    if (cli_env_open(&env, config_path, flags, nflags)) {
        free(keys);
        return 1;
    }
    lh_ingest *ing = NULL;
    char *tmp = NULL;
    int status = 1;
    if (nkeys) {
        if (keys_file(&env, dataset, keys, nkeys, &tmp, &err)) goto out;
        o.source_name = "--key";
        o.format = LH_FORMAT_CSV;
    }
    if (lh_ingest_open(env.cat, &env.cfg, &ing, &err)) goto out;
    lh_upsert_result r;
    if (lh_ingest_upsert(ing, &lh_identity_default, tmp ? tmp : file, &o, &r, &err)) goto out;
    print_upsert(dataset, &r, del);
    status = 0;
out:
    if (status) cli_fail(cmd, &err);
    if (tmp) unlink(tmp);
    free(tmp);
    free(keys);
    lh_ingest_close(ing);
    cli_env_close(&env);
    return status;
}

int cmd_upsert(int argc, char **argv)
{
    return mutate(argc, argv, false);
}

int cmd_delete(int argc, char **argv)
{
    return mutate(argc, argv, true);
}

int cmd_key(int argc, char **argv)
{
    const char *config_path = NULL;
    char *flags[MAX_FLAGS];
    int nflags;
    if ((argc = cli_take_common(argc, argv, &config_path, flags, &nflags)) < 0) return 2;
    const char *dataset = NULL, *cols = NULL, *reason = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(key_help, stdout);
            return 0;
        } else if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc) {
            reason = argv[++i];
        } else if (!dataset) {
            dataset = argv[i];
        } else if (!cols) {
            cols = argv[i];
        } else {
            fputs(key_help, stderr);
            return 2;
        }
    }
    if (!dataset || !cols) {
        fputs(key_help, stderr);
        return 2;
    }
    cli_env env;
    if (cli_env_open(&env, config_path, flags, nflags)) return 1;
    lh_error err = {0};
    lh_ingest *ing = NULL;
    int64_t v = 0;
    int status = 1;
    if (!lh_ingest_open(env.cat, &env.cfg, &ing, &err) &&
        !lh_ingest_set_key(ing, &lh_identity_default, dataset, cols, reason, &v, &err)) {
        printf("%s: primary key (%s) → version %" PRId64 "\n", dataset, cols, v);
        status = 0;
    }
    if (status) cli_fail("key", &err);
    lh_ingest_close(ing);
    cli_env_close(&env);
    return status;
}

static const char *journal_help =
    "usage: lakehouse journal DATASET [--key VALUE[,VALUE]] [--format table|json|ndjson|csv]\n"
    "Shows the journal of one record (or, without --key, of the whole dataset), oldest\n"
    "first: field, old value, new value, version, actor, time, source and reason. The same\n"
    "events are the SQL view 'journal'.\n";

static int buf_write(void *ctx, const char *data, size_t n)
{
    lh_buf_append(ctx, data, n);
    return 0;
}

static int stdout_write(void *ctx, const char *data, size_t n)
{
    (void)ctx;
    return fwrite(data, 1, n, stdout) == n ? 0 : -1;
}

int cmd_journal(int argc, char **argv)
{
    const char *config_path = NULL;
    char *flags[MAX_FLAGS];
    int nflags;
    if ((argc = cli_take_common(argc, argv, &config_path, flags, &nflags)) < 0) return 2;
    const char *dataset = NULL, *key = NULL, *format = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(journal_help, stdout);
            return 0;
        } else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
            key = argv[++i];
        } else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
            format = argv[++i];
        } else if (!dataset && argv[i][0] != '-') {
            dataset = argv[i];
        } else {
            fprintf(stderr, "lakehouse journal: unexpected argument '%s'\n%s", argv[i],
                    journal_help);
            return 2;
        }
    }
    if (!dataset) {
        fputs(journal_help, stderr);
        return 2;
    }
    bool table = format ? strcmp(format, "table") == 0 : isatty(STDOUT_FILENO);
    lh_query_opts o = {.format = LH_QUERY_JSON, .row_limit = INT64_MAX};
    if (format && strcmp(format, "ndjson") == 0)
        o.format = LH_QUERY_NDJSON;
    else if (format && strcmp(format, "csv") == 0)
        o.format = LH_QUERY_CSV;
    else if (format && strcmp(format, "json") != 0 && strcmp(format, "table") != 0) {
        fprintf(stderr, "lakehouse journal: unknown format '%s' (table, json, ndjson, csv)\n",
                format);
        return 2;
    }
    cli_env env;
    if (cli_env_open(&env, config_path, flags, nflags)) return 1;
    lh_query *q = NULL;
    lh_error err = {0};
    lh_buf out = {0};
    int status = 1;
    if (lh_query_open(env.cat, &env.cfg, &q, &err)) goto out;
    if (table) {
        if (lh_query_journal(q, &lh_identity_default, dataset, key, &o, buf_write, &out, NULL,
                             &err))
            goto out;
        lh_buf_putc(&out, 0);
        cli_print_table(out.data);
    } else {
        if (lh_query_journal(q, &lh_identity_default, dataset, key, &o, stdout_write, NULL, NULL,
                             &err))
            goto out;
        if (o.format == LH_QUERY_JSON) putchar('\n');
    }
    status = 0;
out:
    if (status) cli_fail("journal", &err);
    lh_buf_free(&out);
    lh_query_close(q);
    cli_env_close(&env);
    return status;
}

static const char *replay_help =
    "usage: lakehouse replay DATASET (--as-of TIME | --version N) [--to NAME] [--reason TEXT]\n"
    "Materializes DATASET as it was at TIME (RFC 3339, e.g. 2026-11-24T08:00:00Z) or at\n"
    "version N as a new dataset (default name DATASET_vN), with the same columns and key.\n";

int cmd_replay(int argc, char **argv)
{
    const char *config_path = NULL;
    char *flags[MAX_FLAGS];
    int nflags;
    if ((argc = cli_take_common(argc, argv, &config_path, flags, &nflags)) < 0) return 2;
    const char *dataset = NULL, *as_of = NULL, *to = NULL, *reason = NULL;
    int64_t version = 0, as_of_us = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(replay_help, stdout);
            return 0;
        } else if (strcmp(argv[i], "--as-of") == 0 && i + 1 < argc) {
            as_of = argv[++i];
        } else if (strcmp(argv[i], "--version") == 0 && i + 1 < argc) {
            version = strtoll(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc) {
            to = argv[++i];
        } else if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc) {
            reason = argv[++i];
        } else if (!dataset && argv[i][0] != '-') {
            dataset = argv[i];
        } else {
            fprintf(stderr, "lakehouse replay: unexpected argument '%s'\n%s", argv[i], replay_help);
            return 2;
        }
    }
    if (!dataset || (!as_of && version <= 0) || (as_of && version)) {
        fputs(replay_help, stderr);
        return 2;
    }
    if (as_of && lh_time_parse(as_of, &as_of_us) != LH_OK) {
        fprintf(stderr,
                "lakehouse replay: --as-of '%s': expected a time like 2026-11-24T08:00:00Z\n",
                as_of);
        return 2;
    }
    cli_env env;
    if (cli_env_open(&env, config_path, flags, nflags)) return 1;
    lh_error err = {0};
    lh_ingest *ing = NULL;
    char *target = NULL;
    int64_t rows = 0;
    int status = 1;
    if (as_of &&
        lh_catalog_version_at(env.cat, &lh_identity_default, dataset, as_of_us, &version, &err))
        goto out;
    target = to ? lh_strdup(to) : lh_sprintf("%s_v%" PRId64, dataset, version);
    if (lh_ingest_open(env.cat, &env.cfg, &ing, &err)) goto out;
    if (lh_ingest_replay(ing, &lh_identity_default, dataset, version, target, reason, &rows, &err))
        goto out;
    printf("%s version %" PRId64 ": %" PRId64 " rows → new dataset %s\n", dataset, version, rows,
           target);
    status = 0;
out:
    if (status) cli_fail("replay", &err);
    free(target);
    lh_ingest_close(ing);
    cli_env_close(&env);
    return status;
}

static const char *compact_help =
    "usage: lakehouse compact DATASET [--reason TEXT] [--journal] [--gc] [--retention-hours N]\n"
    "Merges the dataset's base and delta files into one new base file, as a new version;\n"
    "earlier versions keep their files. --journal also rolls the journal batches of past\n"
    "months into one file per month. --gc then deletes files (and replaced journal batches)\n"
    "that no version inside the retention window (retention_hours, default 168) needs.\n";

int cmd_compact(int argc, char **argv)
{
    const char *config_path = NULL;
    char *flags[MAX_FLAGS];
    int nflags;
    if ((argc = cli_take_common(argc, argv, &config_path, flags, &nflags)) < 0) return 2;
    const char *dataset = NULL, *reason = NULL;
    bool gc = false, journal = false;
    int64_t retention_h = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(compact_help, stdout);
            return 0;
        } else if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc) {
            reason = argv[++i];
        } else if (strcmp(argv[i], "--gc") == 0) {
            gc = true;
        } else if (strcmp(argv[i], "--journal") == 0) {
            journal = true;
        } else if (strcmp(argv[i], "--retention-hours") == 0 && i + 1 < argc) {
            char *end;
            retention_h = strtoll(argv[++i], &end, 10);
            if (*end || retention_h < 0) {
                fprintf(stderr, "lakehouse compact: --retention-hours needs a whole number >= 0\n");
                return 2;
            }
        } else if (!dataset && argv[i][0] != '-') {
            dataset = argv[i];
        } else {
            fprintf(stderr, "lakehouse compact: unexpected argument '%s'\n%s", argv[i],
                    compact_help);
            return 2;
        }
    }
    if (!dataset) {
        fputs(compact_help, stderr);
        return 2;
    }
    cli_env env;
    if (cli_env_open(&env, config_path, flags, nflags)) return 1;
    lh_error err = {0};
    lh_ingest *ing = NULL;
    int status = 1;
    lh_compact_result r;
    if (lh_ingest_open(env.cat, &env.cfg, &ing, &err)) goto out;
    if (lh_ingest_compact(ing, &lh_identity_default, dataset, reason, &r, &err)) goto out;
    if (r.noop)
        printf("%s: nothing to compact (version %" PRId64 ")\n", dataset, r.version);
    else
        printf("%s: %" PRId64 " files (%" PRId64 " deltas) → 1 file, %" PRId64
               " rows, version %" PRId64 " (%.2fs)\n",
               dataset, r.files_before, r.deltas_before, r.rows, r.version, r.seconds);
    if (journal) {
        int64_t rolled = 0;
        if (lh_ingest_journal_rollup(ing, &lh_identity_default, dataset, lh_wall_us(), &rolled,
                                     &err))
            goto out;
        printf("%s: %" PRId64 " journal batches of past months rolled into monthly files\n",
               dataset, rolled);
    }
    if (gc) {
        int64_t hours = retention_h >= 0 ? retention_h : env.cfg.retention_hours;
        int64_t n = 0;
        if (lh_ingest_gc(ing, &lh_identity_default, dataset, hours * 3600 * 1000000LL, &n, &err))
            goto out;
        printf("%s: %" PRId64 " files outside the %" PRId64 " h retention deleted\n", dataset, n,
               hours);
    }
    status = 0;
out:
    if (status) cli_fail("compact", &err);
    lh_ingest_close(ing);
    cli_env_close(&env);
    return status;
}

static const char *cache_help =
    "usage: lakehouse cache pin|unpin DATASET\n"
    "       lakehouse cache list\n"
    "pin: a running server keeps the dataset in memory at its latest version (the pin is\n"
    "kept in the lake, so it outlives restarts); unpin: it may be evicted again. list: the\n"
    "pinned datasets. GET /cache on the server shows sizes, hits and misses.\n";

int cmd_cache(int argc, char **argv)
{
    const char *config_path = NULL;
    char *flags[MAX_FLAGS];
    int nflags;
    if ((argc = cli_take_common(argc, argv, &config_path, flags, &nflags)) < 0) return 2;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(cache_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    bool list = strcmp(sub, "list") == 0;
    if ((!list && (argc != 3 || (strcmp(sub, "pin") && strcmp(sub, "unpin")))) ||
        (list && argc != 2)) {
        fputs(cache_help, stderr);
        return 2;
    }
    cli_env env;
    if (cli_env_open(&env, config_path, flags, nflags)) return 1;
    lh_error err = {0};
    int status = 1;
    if (list) {
        lh_object_list l;
        if (lh_storage_list_all(env.st, "_cache/pins/", &l, &err)) goto out;
        for (size_t i = 0; i < l.count; i++)
            printf("%s\n", l.items[i].key + strlen("_cache/pins/"));
        lh_storage_list_free(&l);
        status = 0;
        goto out;
    }
    lh_manifest *m = NULL;
    bool pin = strcmp(sub, "pin") == 0;
    if (pin && lh_catalog_get(env.cat, &lh_identity_default, argv[2], 0, &m, &err)) goto out;
    lh_manifest_free(m);
    if (lh_query_cache_mark(env.st, argv[2], pin, &err)) goto out;
    printf("%s: %s\n", argv[2], pin ? "pinned" : "unpinned");
    status = 0;
out:
    if (status) cli_fail("cache", &err);
    cli_env_close(&env);
    return status;
}
