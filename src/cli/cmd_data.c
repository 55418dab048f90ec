/* Data subcommands: ingest, sql, catalog. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "ingest/ingest.h"
#include "query/query.h"

/* "timesheets-2024.csv" → "timesheets_2024": a valid dataset name from a file name. */
static char *dataset_from_path(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strcspn(base, ".");
    char *out = lh_malloc(n + 2);
    size_t j = 0;
    if (n && isdigit((unsigned char)base[0])) out[j++] = '_';
    for (size_t i = 0; i < n && j < 128; i++) {
        unsigned char c = (unsigned char)base[i];
        out[j++] = isalnum(c) ? (char)tolower(c) : '_';
    }
    out[j] = 0;
    return out;
}

static const char *ingest_help =
    "usage: lakehouse ingest FILE... [--dataset NAME] [--format csv|ndjson|auto]\n"
    "                        [--type COLUMN=TYPE]... [--rejects] [--reason TEXT]\n"
    "                        [--embed COLUMN]... [--key COLUMN[,COLUMN]]\n"
    "Ingests each file into the dataset (default: named after the file), creating it or\n"
    "appending to it. The same bytes ingested twice are a reported no-op. With --rejects,\n"
    "rows that do not parse go to NAME_rejects and the rest is committed; without it, any\n"
    "bad row stops the ingest and nothing is committed. --key declares the primary key of a\n"
    "new dataset (refused if the file has duplicate keys); appending to a dataset with a key\n"
    "is an upsert. --embed makes (or refreshes) a text index over the column; text indexes\n"
    "over the dataset follow its new rows (only new or changed chunks are embedded).\n";

int cmd_ingest(int argc, char **argv)
{
    const char *config_path = NULL;
    char *flags[CLI_MAX_FLAGS];
    int nflags;
    if ((argc = cli_take_common(argc, argv, &config_path, flags, &nflags)) < 0) return 2;
    const char *dataset = NULL, *format = "auto", *reason = NULL, *key = NULL;
    const char *types[65] = {0};
    int ntypes = 0;
    bool rejects = false;
    const char *embed[8];
    size_t nembed = 0;
    const char *files[256];
    int nfiles = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(ingest_help, stdout);
            return 0;
        } else if (strcmp(a, "--dataset") == 0 && i + 1 < argc) {
            dataset = argv[++i];
        } else if (strcmp(a, "--format") == 0 && i + 1 < argc) {
            format = argv[++i];
        } else if (strcmp(a, "--type") == 0 && i + 1 < argc && ntypes < 64) {
            types[ntypes++] = argv[++i];
        } else if (strcmp(a, "--reason") == 0 && i + 1 < argc) {
            reason = argv[++i];
        } else if (strcmp(a, "--key") == 0 && i + 1 < argc) {
            key = argv[++i];
        } else if (strcmp(a, "--rejects") == 0) {
            rejects = true;
        } else if (strcmp(a, "--embed") == 0 && i + 1 < argc && nembed < 8) {
            embed[nembed++] = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "lakehouse ingest: unknown option '%s'\n%s", a, ingest_help);
            return 2;
        } else if (nfiles < 256) {
            files[nfiles++] = a;
        }
    }
    if (!nfiles) {
        fputs(ingest_help, stderr);
        return 2;
    }
    lh_error err = {0};
    lh_ingest_format fmt;
    if (lh_ingest_format_parse(format, &fmt, &err)) {
        cli_fail("ingest", &err);
        return 2;
    }
    cli_env env;
    if (cli_env_open(&env, config_path, flags, nflags)) return 1;
    lh_ingest *ing = NULL;
    int status = 0;
    if (lh_ingest_open(env.cat, &env.cfg, &ing, &err)) {
        cli_fail("ingest", &err);
        cli_env_close(&env);
        return 1;
    }
    for (int f = 0; f < nfiles; f++) {
        char *ds = dataset ? lh_strdup(dataset) : dataset_from_path(files[f]);
        cli_progress prog;
        char label[160];
        snprintf(label, sizeof(label), "%s", files[f]);
        cli_progress_start(&prog, label);
        lh_ingest_opts o = {.dataset = ds,
                            .format = fmt,
                            .types = types,
                            .rejects = rejects,
                            .reason = reason,
                            .key = key,
                            .progress = cli_progress_update,
                            .progress_ctx = &prog};
        lh_ingest_result r;
        lh_error e = {0};
        if (lh_ingest_file(ing, &lh_identity_default, files[f], &o, &r, &e)) {
            cli_progress_done(&prog, NULL);
            cli_fail("ingest", &e);
            status = 1;
        } else {
            char line[512];
            if (r.noop)
                snprintf(line, sizeof(line),
                         "%s: already ingested (sha256 %.12s…); dataset %s stays at version "
                         "%" PRId64,
                         files[f], r.sha256, r.dataset, r.version);
            else
                snprintf(line, sizeof(line),
                         "%s: %" PRId64 " rows → %s version %" PRId64 "%s in %.2fs (%.0f rows/s)%s",
                         files[f], r.rows, r.dataset, r.version, r.created ? " (new)" : "",
                         r.seconds, r.seconds > 0 ? r.rows / r.seconds : 0.0,
                         r.rejected ? " — some rows rejected, see <dataset>_rejects" : "");
            cli_progress_done(&prog, NULL);
            printf("%s\n", line);
            if (r.rejected)
                printf("  %" PRId64 " rejected rows in dataset %s_rejects\n", r.rejected,
                       r.dataset);
            if (cli_embed_after_ingest(&env, r.dataset, embed, nembed, !r.noop)) status = 1;
        }
        free(ds);
    }
    lh_ingest_close(ing);
    cli_env_close(&env);
    return status;
}

static int stdout_sink(void *ctx, const char *data, size_t n)
{
    (void)ctx;
    return fwrite(data, 1, n, stdout) == n ? 0 : -1;
}

void cli_print_table(const char *json)
{
    json_error_t je;
    json_t *root = json_loads(json, 0, &je);
    json_t *cols = json_object_get(root, "columns"), *rows = json_object_get(root, "rows");
    size_t nc = json_array_size(cols), nr = json_array_size(rows);
    size_t *w = lh_calloc(nc + 1, sizeof(size_t));
    char **cells = lh_calloc((nr + 1) * (nc + 1), sizeof(char *));
    for (size_t c = 0; c < nc; c++) {
        cells[c] = lh_strdup(json_string_value(json_object_get(json_array_get(cols, c), "name")));
        w[c] = strlen(cells[c]);
    }
    for (size_t r = 0; r < nr; r++)
        for (size_t c = 0; c < nc; c++) {
            json_t *v = json_array_get(json_array_get(rows, r), c);
            char *s = json_is_string(v) ? lh_strdup(json_string_value(v))
                      : json_is_null(v) ? lh_strdup("NULL")
                                        : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            for (char *p = s; *p; p++)
                if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
            if (strlen(s) > 60) strcpy(s + 57, "...");
            cells[(r + 1) * nc + c] = s;
            if (strlen(s) > w[c]) w[c] = strlen(s);
        }
    for (size_t r = 0; r <= nr; r++) {
        for (size_t c = 0; c < nc; c++)
            printf("%s%-*s", c ? " | " : "", (int)w[c], cells[r * nc + c]);
        printf("\n");
        if (r == 0) {
            for (size_t c = 0; c < nc; c++) {
                printf("%s", c ? "-+-" : "");
                for (size_t k = 0; k < w[c]; k++)
                    putchar('-');
            }
            printf("\n");
        }
    }
    json_t *trunc = json_object_get(root, "truncated");
    printf("(%zu row%s%s, %.1f ms)\n", nr, nr == 1 ? "" : "s",
           json_is_true(trunc) ? ", truncated" : "",
           json_real_value(json_object_get(root, "elapsed_ms")));
    for (size_t i = 0; i < (nr + 1) * nc; i++)
        free(cells[i]);
    free(cells);
    free(w);
    json_decref(root);
}

static const char *sql_help =
    "usage: lakehouse sql \"SELECT ...\" [--format table|json|ndjson|csv] [--limit N]\n"
    "                     [--timeout-ms N] [--as-of TIME]\n"
    "Runs one read-only statement over the datasets (each dataset is a view of the same\n"
    "name). Default format: table on a terminal, json otherwise. '-' reads the SQL from\n"
    "standard input. --as-of 2026-11-24T08:00:00Z reads every dataset as it was then;\n"
    "\"name@v12\" (quoted) reads version 12 of a dataset.\n";

int cmd_sql(int argc, char **argv)
{
    const char *config_path = NULL;
    char *flags[CLI_MAX_FLAGS];
    int nflags;
    if ((argc = cli_take_common(argc, argv, &config_path, flags, &nflags)) < 0) return 2;
    const char *sql = NULL, *format = NULL, *as_of = NULL;
    int64_t limit = 0, as_of_us = 0;
    int timeout = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(sql_help, stdout);
            return 0;
        } else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
            format = argv[++i];
        } else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            limit = strtoll(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
            timeout = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--as-of") == 0 && i + 1 < argc) {
            as_of = argv[++i];
        } else if (!sql) {
            sql = argv[i];
        } else {
            fprintf(stderr, "lakehouse sql: unexpected argument '%s'\n%s", argv[i], sql_help);
            return 2;
        }
    }
    if (!sql) {
        fputs(sql_help, stderr);
        return 2;
    }
    if (as_of && lh_time_parse(as_of, &as_of_us) != LH_OK) {
        fprintf(stderr, "lakehouse sql: --as-of '%s': expected a time like 2026-11-24T08:00:00Z\n",
                as_of);
        return 2;
    }
    char *stdin_sql = NULL;
    if (strcmp(sql, "-") == 0) {
        lh_buf b = {0};
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
            lh_buf_append(&b, chunk, n);
        sql = stdin_sql = lh_buf_steal(&b);
    }
    bool table = format ? strcmp(format, "table") == 0 : isatty(STDOUT_FILENO);
    lh_query_opts o = {.row_limit = limit, .timeout_ms = timeout, .format = LH_QUERY_JSON};
    if (format && strcmp(format, "ndjson") == 0)
        o.format = LH_QUERY_NDJSON;
    else if (format && strcmp(format, "csv") == 0)
        o.format = LH_QUERY_CSV;
    else if (format && strcmp(format, "json") != 0 && strcmp(format, "table") != 0) {
        fprintf(stderr, "lakehouse sql: unknown format '%s' (table, json, ndjson, csv)\n", format);
        free(stdin_sql);
        return 2;
    }
    cli_env env;
    if (cli_env_open(&env, config_path, flags, nflags)) {
        free(stdin_sql);
        return 1;
    }
    lh_query *q = NULL;
    lh_error err = {0};
    int status = 1;
    if (lh_query_open(env.cat, &env.cfg, &q, &err)) {
        cli_fail("sql", &err);
        goto out;
    }
    char *resolved = NULL;
    if (lh_query_resolve(q, &lh_identity_default, sql, as_of_us, &resolved, &err)) {
        cli_fail("sql", &err);
        goto out;
    }
    free(stdin_sql);
    sql = stdin_sql = resolved;
    if (table) {
        char *json = NULL;
        if (lh_query_json(q, &lh_identity_default, sql, limit, &json, &err) == LH_OK) {
            cli_print_table(json);
            status = 0;
        }
        free(json);
    } else if (lh_query_run(q, &lh_identity_default, sql, &o, stdout_sink, NULL, NULL, &err) ==
               LH_OK) {
        if (o.format == LH_QUERY_JSON) putchar('\n');
        status = 0;
    }
    if (status) cli_fail("sql", &err);
out:
    lh_query_close(q);
    cli_env_close(&env);
    free(stdin_sql);
    return status;
}

static const char *catalog_help =
    "usage: lakehouse catalog list\n"
    "       lakehouse catalog show NAME [--version N]\n"
    "       lakehouse catalog resync NAME\n"
    "       lakehouse catalog gc [NAME] [--grace SECONDS] [--dry-run]\n"
    "list: every dataset with its version, rows and size. show: the manifest as JSON.\n"
    "resync: rebuild schema and row counts from the Parquet footers as a new version.\n"
    "gc: delete data files no committed version references (left by writers that were\n"
    "    killed before their commit) once older than --grace (default 3600 s).\n";

int cmd_catalog(int argc, char **argv)
{
    const char *config_path = NULL;
    char *flags[CLI_MAX_FLAGS];
    int nflags;
    if ((argc = cli_take_common(argc, argv, &config_path, flags, &nflags)) < 0) return 2;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(catalog_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    const char *name = argc > 2 && argv[2][0] != '-' ? argv[2] : NULL;
    int64_t version = 0, grace = 3600;
    bool dry_run = false;
    for (int i = name ? 3 : 2; i < argc; i++) {
        if (strcmp(argv[i], "--version") == 0 && i + 1 < argc) {
            version = strtoll(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--grace") == 0 && i + 1 < argc) {
            char *end;
            grace = strtoll(argv[++i], &end, 10);
            if (*end || grace < 0) {
                fprintf(stderr, "lakehouse catalog: --grace wants whole seconds >= 0, got '%s'\n",
                        argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--dry-run") == 0) {
            dry_run = true;
        } else {
            fprintf(stderr, "lakehouse catalog: unexpected argument '%s'\n%s", argv[i],
                    catalog_help);
            return 2;
        }
    }
    if (strcmp(sub, "list") != 0 && strcmp(sub, "gc") != 0 && !name) {
        fputs(catalog_help, stderr);
        return 2;
    }
    cli_env env;
    if (cli_env_open(&env, config_path, flags, nflags)) return 1;
    lh_error err = {0};
    int status = 0;
    const lh_identity *who = &lh_identity_default;
    if (strcmp(sub, "list") == 0) {
        char **names = NULL;
        size_t n = 0;
        if (lh_catalog_list(env.cat, who, &names, &n, &err)) {
            status = 1;
        } else {
            printf("%-28s %8s %12s %12s  %s\n", "dataset", "version", "rows", "bytes", "updated");
            for (size_t i = 0; i < n; i++) {
                lh_manifest *m = NULL;
                if (lh_catalog_get(env.cat, who, names[i], 0, &m, &err)) {
                    printf("%-28s (unreadable: %s)\n", names[i], err.msg);
                    continue;
                }
                char t[40];
                lh_time_format(m->updated_us, t, sizeof(t));
                printf("%-28s %8" PRId64 " %12" PRId64 " %12" PRId64 "  %s\n", m->dataset,
                       m->version, m->rows, m->bytes, t);
                lh_manifest_free(m);
            }
            lh_catalog_names_free(names, n);
        }
    } else if (strcmp(sub, "show") == 0) {
        lh_manifest *m = NULL;
        if (lh_catalog_get(env.cat, who, name, version, &m, &err)) {
            status = 1;
        } else {
            json_t *j = lh_manifest_to_json(m);
            char *s = json_dumps(j, JSON_INDENT(2));
            printf("%s\n", s);
            free(s);
            json_decref(j);
            lh_manifest_free(m);
        }
    } else if (strcmp(sub, "resync") == 0) {
        int64_t v = 0;
        if (lh_catalog_resync(env.cat, who, name, &v, &err))
            status = 1;
        else
            printf("%s: resynced from its Parquet footers as version %" PRId64 "\n", name, v);
    } else if (strcmp(sub, "gc") == 0) {
        lh_gc_report g;
        if (lh_catalog_gc(env.cat, who, name, grace, dry_run, &g, &err)) {
            status = 1;
        } else {
            printf("gc: %" PRId64 " data files, %" PRId64 " referenced, %" PRId64
                   " unreferenced %s (%" PRId64 " bytes), %" PRId64
                   " unreferenced but younger than %" PRId64 " s kept\n",
                   g.scanned, g.referenced, g.removed, dry_run ? "would be removed" : "removed",
                   g.removed_bytes, g.young, grace);
        }
    } else {
        fprintf(stderr, "lakehouse catalog: unknown subcommand '%s'\n%s", sub, catalog_help);
        status = 2;
    }
    if (status == 1) cli_fail("catalog", &err);
    cli_env_close(&env);
    return status;
}
