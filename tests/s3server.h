/* The S3 test server (scripts/s3-server) for cmocka tests: start, stop, open a store on it.
 * Header-only; include after cmocka.h. The server exits by itself when the test process
 * ends (LH_S3_OWNER_PID), so a crashing test leaves nothing running. */
#ifndef LH_S3SERVER_H
#define LH_S3SERVER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/storage.h"

typedef struct s3srv {
    char dir[256];      /* state folder: data/, log, pid, port */
    char endpoint[128]; /* "http://127.0.0.1:PORT" */
    const char *extra;  /* more arguments of scripts/s3-server start, or NULL */
} s3srv;

static inline int s3srv_run(const char *cmd, char *out, size_t n)
{
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    if (out && n) {
        out[0] = 0;
        if (!fgets(out, (int)n, p)) out[0] = 0;
        out[strcspn(out, "\n")] = 0;
    }
    return pclose(p);
}

/* Starts a server (port 0: any free port) with bucket "lake"; 0 on success. */
static inline int s3srv_start(s3srv *s, int port)
{
    const char *src = getenv("LH_SOURCE_DIR");
    if (!src) src = LH_SOURCE_DIR;
    if (!s->dir[0]) {
        snprintf(s->dir, sizeof s->dir, "/tmp/lh-s3srv-%d-%llx", (int)getpid(),
                 (unsigned long long)lh_now_ns());
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "LH_S3_OWNER_PID=%d '%s/scripts/s3-server' start '%s' --port %d %s",
             (int)getpid(), src, s->dir, port, s->extra ? s->extra : "");
    if (s3srv_run(cmd, s->endpoint, sizeof s->endpoint) != 0 ||
        strncmp(s->endpoint, "http://", 7) != 0) {
        fprintf(stderr, "s3 test server did not start (%s)\n", cmd);
        return -1;
    }
    return 0;
}

/* Stops the server; its objects stay in s->dir/data for a restart. */
static inline void s3srv_stop(s3srv *s)
{
    const char *src = getenv("LH_SOURCE_DIR");
    if (!src) src = LH_SOURCE_DIR;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s/scripts/s3-server' stop '%s'", src, s->dir);
    s3srv_run(cmd, NULL, 0);
}

/* Port of a running server. */
static inline int s3srv_port(const s3srv *s)
{
    const char *c = strrchr(s->endpoint, ':');
    return c ? atoi(c + 1) : 0;
}

/* Stops the server and removes its state folder. */
static inline void s3srv_destroy(s3srv *s)
{
    s3srv_stop(s);
    lh_rm_rf(s->dir);
}

/* Options for a store on the server under key prefix `prefix`, caching into cache_dir. */
static inline lh_s3_options s3srv_options(const s3srv *s, const char *prefix, const char *cache)
{
    lh_s3_options o = {
        .endpoint = s->endpoint,
        .region = "us-east-1",
        .bucket = "lake",
        .prefix = prefix,
        .path_style = true,
        .access_key_id = "S3RVER",
        .secret_access_key = "S3RVER",
        .retry_max_ms = 3000,
        .timeout_ms = 5000,
        .cache_dir = cache,
    };
    return o;
}

/* Starts tests/storage/s3_proxy.js in front of the server with a fault mode ("503-first 3",
 * "kill-at-part PIDFILE", ...); fills *pid and returns its endpoint in out, 0 on success. */
static inline int s3proxy_start(const s3srv *s, const char *mode, int *pid, char *out, size_t n)
{
    const char *src = getenv("LH_SOURCE_DIR");
    if (!src) src = LH_SOURCE_DIR;
    char log[300], cmd[1200];
    snprintf(log, sizeof log, "%s/proxy-%llx.out", s->dir, (unsigned long long)lh_now_ns());
    snprintf(cmd, sizeof cmd,
             "LH_S3_OWNER_PID=%d setsid node '%s/tests/storage/s3_proxy.js' %d %s > '%s' 2>&1 "
             "< /dev/null & echo $!",
             (int)getpid(), src, s3srv_port(s), mode, log);
    char pidline[32];
    if (s3srv_run(cmd, pidline, sizeof pidline) != 0) return -1;
    *pid = atoi(pidline);
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(log, "r");
        int port = 0;
        if (f) {
            if (fscanf(f, "listening %d", &port) != 1) port = 0;
            fclose(f);
        }
        if (port > 0) {
            snprintf(out, n, "http://127.0.0.1:%d", port);
            return 0;
        }
        usleep(50 * 1000);
    }
    return -1;
}

#endif
