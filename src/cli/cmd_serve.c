/* lakehouse serve: the HTTP API until SIGINT/SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "gateway/gateway.h"
#include "ingest/ingest.h"
#include "query/query.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static const char *serve_help =
    "usage: lakehouse serve [--data DIR] [--listen HOST:PORT] [--config FILE] [--bucket NAME]\n"
    "Serves the HTTP API (see README) until interrupted. Port 0 picks a free port; the\n"
    "first line printed is 'listening on http://HOST:PORT'. Requests work on the bucket\n"
    "--bucket names (default primary), or on the configured bucket their X-Lakehouse-Bucket\n"
    "header names.\n";

static void wal_apply(void *ctx, const lh_manifest *m, const char *wal_id, int64_t seq,
                      const json_t *rows)
{
    lh_query_wal_apply(ctx, m, seq, rows);
}

static void wal_committed(void *ctx, const char *dataset, const char *wal_id, int64_t seq)
{
    lh_query_wal_committed(ctx, dataset, seq);
}

static int wal_current(void *ctx, const lh_manifest *m, const char *where, json_t **rows)
{
    return lh_query_wal_current(ctx, m, where, rows);
}

int cmd_serve(int argc, char **argv)
{
    const char *config_path = NULL;
    char *flags[CLI_MAX_FLAGS];
    int nflags;
    if ((argc = cli_take_common(argc, argv, &config_path, flags, &nflags)) < 0) return 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(serve_help, stdout);
            return 0;
        }
        fprintf(stderr, "lakehouse serve: unexpected argument '%s'\n%s", argv[i], serve_help);
        return 2;
    }
    cli_env env;
    if (cli_env_open(&env, config_path, flags, nflags)) return 1;
    lh_error err = {0};
    /* Storage failures go to GET /storage/errors and _errors/bucket_errors/ of the lake. */
    if (lh_storage_errors_attach(env.st, &err))
        lh_log(LH_LOG_WARN, "storage_errors_attach_failed", "msg", err.msg, NULL);
    lh_error_clear(&err);
    lh_query *q = NULL;
    lh_ingest *ing = NULL;
    lh_gateway *gw = NULL;
    int status = 1;
    /* The ingester first: opening it replays a write-ahead log left by a killed process, so
     * the views start at the versions holding those records. */
    if (lh_ingest_open(env.cat, &env.cfg, &ing, &err) || lh_query_open(env.cat, &env.cfg, &q, &err))
        goto out;
    lh_query_cache_enable(q); /* a long-lived server keeps pinned and hot datasets in memory */
    /* Small upserts and deletes go through the local write-ahead log: acknowledged once
     * fsynced, visible to this server's queries at once, committed in batches (ADR 0012). */
    lh_ingest_wal_hooks hooks = {
        .ctx = q, .apply = wal_apply, .committed = wal_committed, .current = wal_current};
    int wrc = lh_ingest_wal_start(ing, &hooks, &err);
    if (wrc == LH_EUNAVAIL) {
        /* Another server writes this lake through the log: this one commits directly. */
        lh_log(LH_LOG_WARN, "wal.unavailable", "msg", err.msg, NULL);
        lh_error_clear(&err);
    } else if (wrc) {
        goto out;
    }
    lh_gateway_deps deps = {.cfg = &env.cfg,
                            .storage = env.st,
                            .catalog = env.cat,
                            .query = q,
                            .ingest = ing,
                            .base_cfg = &env.base};
    if (lh_gateway_start(&deps, &gw, &err)) goto out;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    char host[256];
    snprintf(host, sizeof(host), "%s", env.cfg.listen);
    char *colon = strrchr(host, ':');
    if (colon) *colon = 0;
    printf("listening on http://%s:%d\n", host, lh_gateway_port(gw));
    fflush(stdout);
    lh_log(LH_LOG_INFO, "serve.started", "listen", env.cfg.listen, "data", env.cfg.data_dir, NULL);
    while (!stop_requested)
        pause();
    lh_log(LH_LOG_INFO, "serve.stopping", NULL);
    status = 0;
out:
    if (status) cli_fail("serve", &err);
    lh_gateway_stop(gw);
    lh_ingest_close(ing);
    lh_query_close(q);
    lh_storage_errors_detach();
    cli_env_close(&env);
    return status;
}
