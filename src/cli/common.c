/* Shared set-up of the subcommands: flags, config, storage and catalog, progress bars. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const struct {
    const char *flag;
    const char *key;
} common_flags[] = {{"--data", "data_dir"}, {"--listen", "listen"}, {"--bucket", "bucket"}};

int cli_take_common(int argc, char **argv, const char **config_path, char **flags, int *nflags)
{
    int out = 1;
    *nflags = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        size_t nlen = strcspn(a, "=");
        bool matched = false;
        if (strncmp(a, "--config", nlen) == 0 && nlen == 8) {
            val = a[nlen] ? a + nlen + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!val) goto missing;
            *config_path = val;
            continue;
        }
        for (size_t f = 0; f < sizeof(common_flags) / sizeof(common_flags[0]); f++) {
            if (strlen(common_flags[f].flag) == nlen && strncmp(a, common_flags[f].flag, nlen) == 0) {
                val = a[nlen] ? a + nlen + 1 : (i + 1 < argc ? argv[++i] : NULL);
                if (!val) goto missing;
                flags[(*nflags)++] = (char *)common_flags[f].key;
                flags[(*nflags)++] = (char *)val;
                matched = true;
            }
        }
        if (!matched) argv[out++] = argv[i];
        continue;
    missing:
        fprintf(stderr, "lakehouse: %s needs a value\n", a);
        return -1;
    }
    argv[out] = NULL;
    return out;
}

int cli_env_open(cli_env *env, const char *config_path, char **flags, int nflags)
{
    lh_error err = {0};
    memset(env, 0, sizeof(*env));
    if (lh_config_load(&env->cfg, config_path, &err)) goto fail;
    for (int i = 0; i + 1 < nflags; i += 2)
        if (lh_config_set(&env->cfg, flags[i], flags[i + 1], &err)) goto fail;
    lh_log_level lvl = LH_LOG_INFO;
    lh_log_level_parse(env->cfg.log_level, &lvl);
    lh_log_setup(lvl, env->cfg.log_json);
    if (lh_storage_open_config(&env->cfg, &env->st, &err)) goto fail;
    if (lh_catalog_open(env->st, &env->cat, &err)) goto fail;
    return 0;
fail:
    fprintf(stderr, "lakehouse: %s\n", err.msg);
    cli_env_close(env);
    return 1;
}

void cli_env_close(cli_env *env)
{
    lh_catalog_close(env->cat);
    lh_storage_close(env->st);
    lh_config_free(&env->cfg);
    memset(env, 0, sizeof(*env));
}

void cli_fail(const char *cmd, const lh_error *err)
{
    fprintf(stderr, "lakehouse %s: %s\n", cmd, err->msg[0] ? err->msg : lh_error_name(err->code));
}

void cli_progress_start(cli_progress *p, const char *label)
{
    p->label = label;
    p->tty = isatty(STDERR_FILENO);
    p->last_pct = -1;
    p->started_ns = lh_now_ns();
}

void cli_progress_update(void *ctx, double fraction)
{
    cli_progress *p = ctx;
    if (!p->tty) return;
    int pct = (int)(fraction * 100 + 0.5);
    if (pct < 0) pct = 0;
    if (pct > 100) pct = 100;
    if (pct == p->last_pct) return;
    p->last_pct = pct;
    char bar[31];
    int fill = pct * 30 / 100;
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    double s = (double)(lh_now_ns() - p->started_ns) / 1e9;
    fprintf(stderr, "\r%-24.24s [%s] %3d%%  %5.1fs", p->label, bar, pct, s);
    fflush(stderr);
}

void cli_progress_done(cli_progress *p, const char *summary)
{
    if (p->tty && p->last_pct >= 0) fprintf(stderr, "\r\033[K");
    if (summary) fprintf(stderr, "%s\n", summary);
}
