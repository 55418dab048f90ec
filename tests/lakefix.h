/* A local lake for module tests: a temp folder, the configuration, storage, catalog, ingest
 * and, when asked, the query engine. Header-only; include after cmocka.h. */
#ifndef LH_LAKEFIX_H
#define LH_LAKEFIX_H

#include "catalog/catalog.h"
#include "ingest/ingest.h"
#include "query/query.h"
#include "testutil.h"

typedef struct tu_lake {
    char *dir; /* the temp folder; the lake is <dir>/lake */
    lh_config cfg;
    lh_storage *st;
    lh_catalog *cat;
    lh_ingest *ing;
    lh_query *q; /* NULL until tu_lake_open_query */
} tu_lake;

/* Opens a fresh lake into l: configuration defaults, then settings (NULL-terminated key,
 * value pairs, may be NULL), local storage, catalog and ingest. Fails the test on error. */
static inline void tu_lake_open(tu_lake *l, const char *tag, const char *const *settings)
{
    memset(l, 0, sizeof(*l));
    lh_error err = {0};
    l->dir = tu_tmpdir(tag);
    assert_non_null(l->dir);
    assert_int_equal(lh_config_load(&l->cfg, NULL, &err), 0);
    char *lake = lh_path_join(l->dir, "lake");
    assert_int_equal(lh_config_set(&l->cfg, "data_dir", lake, &err), 0);
    free(lake);
    for (size_t i = 0; settings && settings[i]; i += 2)
        if (lh_config_set(&l->cfg, settings[i], settings[i + 1], &err))
            fail_msg("config %s: %s", settings[i], err.msg);
    assert_int_equal(lh_storage_open_local(l->cfg.data_dir, &l->st, &err), 0);
    assert_int_equal(lh_catalog_open(l->st, &l->cat, &err), 0);
    assert_int_equal(lh_ingest_open(l->cat, &l->cfg, &l->ing, &err), 0);
}

/* Opens l's query engine (its views are the datasets ingested so far). */
static inline void tu_lake_open_query(tu_lake *l)
{
    lh_error err = {0};
    if (lh_query_open(l->cat, &l->cfg, &l->q, &err)) fail_msg("query engine: %s", err.msg);
}

/* Closes what tu_lake_open(_query) opened and removes the folder. */
static inline void tu_lake_close(tu_lake *l)
{
    lh_query_close(l->q);
    lh_ingest_close(l->ing);
    lh_catalog_close(l->cat);
    lh_storage_close(l->st);
    lh_config_free(&l->cfg);
    tu_rmdir(l->dir);
    memset(l, 0, sizeof(*l));
}

#endif
