/*
 * gateway internals shared by the gateway's files and its unit tests. Not a public header.
 *
 * Internal names use the gw_ prefix. Pure helpers (routing, query strings, percent
 * decoding, path checks) take no MHD state so tests can call them directly.
 */
#ifndef LH_GATEWAY_INT_H
#define LH_GATEWAY_INT_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "gateway/gateway.h"
#include "ai/ai.h"
#include "vector/vector.h"

#define GW_MAX_PARAMS 4
#define GW_ALLOW_MAX 64

/* ------------------------------------------------------------- pure helpers */

/* One decoded query-string argument. */
typedef struct gw_kv {
    char *key;
    char *value;
} gw_kv;

/* Percent-decodes n bytes of s ('+' becomes a space when plus_space) into a new string
 * (caller frees *out). LH_EINVAL naming the offset on a bad escape, an encoded NUL or a
 * result that is not valid UTF-8. */
int gw_percent_decode(const char *s, size_t n, bool plus_space, char **out, lh_error *err);

/* A JSON string of s with invalid UTF-8 replaced by U+FFFD (never NULL). */
json_t *gw_json_text(const char *s);

/* Parses a raw query string ("a=1&b=x%20y", no leading '?'; NULL or "" = none) into decoded
 * pairs; caller frees with gw_kv_free. A key without '=' gets the value "". A repeated key
 * is LH_EINVAL (ambiguous). */
int gw_query_parse(const char *qs, gw_kv **out, size_t *count, lh_error *err);
/* Frees pairs from gw_query_parse. Accepts NULL. */
void gw_kv_free(gw_kv *kv, size_t count);
/* The value of key, or NULL (borrowed from kv). */
const char *gw_kv_get(const gw_kv *kv, size_t count, const char *key);

/* Parses "true"/"false"/"1"/"0"/"yes"/"no"/"" (empty = true, as in ?rejects). */
int gw_parse_bool(const char *s, bool *out, lh_error *err);
/* Parses a non-negative decimal integer that fits int64. */
int gw_parse_int64(const char *s, int64_t *out, lh_error *err);

/* Turns "col:TYPE,col2:TYPE" into a NULL-terminated array of "col=TYPE" strings for
 * lh_ingest_opts.types (caller frees with gw_strv_free). NULL/"" gives *out = NULL. */
int gw_types_parse(const char *spec, char ***out, lh_error *err);
/* Frees a NULL-terminated string array. Accepts NULL. */
void gw_strv_free(char **v);

/* Splits a listen address "host:port" / "[v6]:port" / ":port" into a host (caller frees;
 * "" becomes "0.0.0.0") and a port in [0, 65535]. */
int gw_listen_parse(const char *listen, char **host, int *port, lh_error *err);

/* Checks that path names a regular file strictly inside folder root, following symlinks:
 * relative paths are taken relative to root, ".." segments are refused outright. On success
 * *resolved is the real path (caller frees). LH_EDENIED naming the path and the folder
 * otherwise (LH_ENOENT if the file does not exist inside the folder). */
int gw_path_inside(const char *root, const char *path, char **resolved, lh_error *err);

/* Checks a decoded asset file name for GET /assets/{file}: 1-200 bytes of [A-Za-z0-9._-] not
 * starting with '.', so it can only name a file directly inside the assets folder.
 * LH_EINVAL naming the offending byte otherwise. */
int gw_ui_asset_name_check(const char *name, lh_error *err);
/* True if name looks like a bundler's content-hashed file ("index-B3x9aZ_q.js"): such files
 * are served as immutable. */
bool gw_ui_name_is_hashed(const char *name);
/* The Content-Type for a file name by its extension (static string; octet-stream if unknown). */
const char *gw_content_type(const char *name);
/* The default UI folder: "web" next to the running executable (caller frees). */
char *gw_ui_dir_default(void);

/* ------------------------------------------------------------------ routing */

typedef struct gw_req gw_req;

/* How a route consumes the request body before its handler runs. */
typedef enum {
    GW_BODY_NONE = 0, /* no body expected (a body is read and ignored) */
    GW_BODY_JSON,     /* buffered up to cfg->max_json_bytes, parsed into req->json */
    GW_BODY_UPLOAD,   /* streamed to a temp file (raw or multipart) up to cfg->max_body_bytes */
} gw_body_kind;

/* Runs the request and queues exactly one response (through gw_send_*). */
typedef void (*gw_handler)(gw_req *r);

/* One route: method + pattern; "{x}" matches one non-empty path segment. */
typedef struct gw_route {
    const char *method;
    const char *pattern;
    gw_body_kind body;
    gw_handler handler;
} gw_route;

/* The route table (route.c) and its length. */
extern const gw_route gw_routes[];
extern const size_t gw_nroutes;

/* Finds the route for method + raw path (no query string). Path segments are split on '/'
 * first and then percent-decoded, so "%2F" never creates a segment. On a match, params[]
 * receive the decoded "{x}" segments (caller frees each) and *nparams their count.
 * Returns LH_OK, LH_ENOENT (no route has this path), LH_EUNSUPPORTED (the path exists for
 * other methods, listed in allow as "GET, POST"), or LH_EINVAL (bad escape, dot segment). */
int gw_route_find(const gw_route *table, size_t n, const char *method, const char *path,
                  const gw_route **out, char *params[GW_MAX_PARAMS], size_t *nparams,
                  char allow[GW_ALLOW_MAX], lh_error *err);

/* ------------------------------------------------------------------ serving */

typedef struct gw_stream gw_stream;

/* One bucket's environment: what a request works on. The served bucket's borrows the deps;
 * the others are opened at their first request (gw_env_resolve) and owned by the gateway. */
typedef struct gw_env {
    char *name;           /* bucket name */
    const lh_config *cfg; /* this bucket's configuration */
    lh_storage *storage;  /* of the bucket (the catalog's store) */
    lh_catalog *catalog;
    lh_query *query;
    lh_ingest *ingest;
    lh_vector_registry *vectors; /* loaded vector indexes (thread-safe itself) */
    pthread_mutex_t ingest_mu;   /* serializes ingests: one writer per bucket */
    bool owned;                  /* opened by the gateway: closed at stop */
    lh_config own_cfg;           /* owned: what cfg points to */
    struct gw_env *next;         /* the gateway's list of opened buckets (under envs_mu) */
} gw_env;

struct lh_gateway {
    lh_gateway_deps deps;
    struct MHD_Daemon *daemon;
    int port;
    uint64_t started_ns;
    char *upload_dir;           /* <cache_dir>/uploads */
    pthread_mutex_t mu;         /* guards nstreams */
    pthread_cond_t cv;          /* signalled when nstreams drops */
    int nstreams;               /* live query producer threads */
    lh_crew *producers;         /* the threads query producers run on (kept warm, sql.c) */
    char *ui_dir;               /* the built web UI served at / (cfg->ui_dir or the default) */
    const lh_config *base_cfg;  /* every bucket's configuration derives from it */
    gw_env served;              /* the served bucket (deps) */
    pthread_mutex_t envs_mu;    /* guards others (and serializes opening one) */
    gw_env *others;             /* other buckets opened so far */
    lh_ai_text_registry *texts; /* loaded text indexes (thread-safe itself) */
    pthread_mutex_t ai_mu;      /* guards the three fields below (opened on first use) */
    lh_ai_embedder *embedder;
    lh_ai_generator *generator; /* NULL: none configured */
    bool generator_open;
    lh_ai_jobs *jobs; /* background embed jobs (thread-safe itself) */
};

/* Per-request state, created when the request line arrives, freed when MHD completes it. */
struct gw_req {
    lh_gateway *g;
    struct MHD_Connection *conn;
    uint64_t t0;
    char *uri;   /* raw request target */
    char *path;  /* raw path (before '?') */
    char *query; /* raw query string (after '?'), or NULL */
    const char *method;
    char client[64];
    char actor[80];
    lh_identity who;
    gw_kv *args;
    size_t nargs;
    const gw_route *route;
    gw_env *env; /* the bucket the request works on (gw_req_env) */
    char *params[GW_MAX_PARAMS];
    size_t nparams;
    bool started;   /* first access-handler call done */
    bool responded; /* a response has been queued */
    int status;
    uint64_t bytes;       /* body bytes of a fixed response */
    gw_stream *stream;    /* streamed response, if any (holds a reference) */
    const char *err_code; /* for the access log */
    /* request body */
    int64_t received;
    int64_t drained;   /* body bytes discarded after an error was decided */
    lh_error deferred; /* set when the body must be drained before the error can be sent */
    lh_buf body;       /* GW_BODY_JSON */
    json_t *json;
    int fd; /* GW_BODY_UPLOAD: temp file, -1 if none */
    char *tmp_path;
    struct MHD_PostProcessor *pp;
    bool multipart;
    bool saw_file;
    char *file_name; /* multipart filename */
    json_t *form;    /* multipart fields other than "file" */
};

/* Queues a JSON response (steals body). */
void gw_send_json(gw_req *r, unsigned status, json_t *body);
/* Queues {"error":{code,message,detail}} for rc with its HTTP status (or status if > 0);
 * steals detail (may be NULL). */
void gw_send_error(gw_req *r, int status, int rc, const char *message, json_t *detail);
/* Queues the error in err with the status that fits its code. */
void gw_send_lh_error(gw_req *r, const lh_error *err);
/* Queues a response the caller built (takes it); records status and bytes for the log. */
void gw_send_response(gw_req *r, unsigned status, struct MHD_Response *resp, uint64_t bytes);

/* Handlers (one per route). */
void gw_handle_health(gw_req *r);
void gw_handle_datasets_list(gw_req *r);
void gw_handle_dataset_get(gw_req *r);
void gw_handle_openapi(gw_req *r);
void gw_handle_sql(gw_req *r);
void gw_handle_ingest_upload(gw_req *r);
void gw_handle_ingest_file(gw_req *r);
void gw_handle_vector_search(gw_req *r);
void gw_handle_vector_indexes(gw_req *r);
void gw_handle_ui_index(gw_req *r);
void gw_handle_ui_asset(gw_req *r);
void gw_handle_storage_errors(gw_req *r);

/* The configured bucket names of st as a new JSON array of strings (["primary"] if st is
 * NULL). */
json_t *gw_bucket_names_json(const lh_storage *st);
/* The bucket environment of the request: its storage, catalog, query engine, ingest and
 * vector indexes. Handlers take every engine from here, never from deps. */
gw_env *gw_req_env(const gw_req *r);
/* Sets r->env from X-Lakehouse-Bucket (none: the served bucket), opening a configured bucket
 * at its first use; an unknown name queues a 400 listing the known names, a bucket that
 * cannot be opened queues its error; both return false. */
bool gw_env_resolve(gw_req *r);
/* Sets up g->served from the deps (borrowed). */
void gw_envs_init(lh_gateway *g);
/* Closes every bucket the gateway opened and the served bucket's own parts. */
void gw_envs_close(lh_gateway *g);
void gw_handle_search(gw_req *r);
void gw_handle_rag(gw_req *r);
void gw_handle_ask(gw_req *r);
void gw_handle_jobs_submit(gw_req *r);
void gw_handle_jobs_list(gw_req *r);
void gw_handle_job_get(gw_req *r);
void gw_handle_job_cancel(gw_req *r);
/* After an ingest into dataset: queues embed jobs for its text indexes (unless noop) and for
 * the column `embed` names (may be NULL), and adds "jobs" (and "embed_error") to body. */
void gw_ai_after_ingest(gw_req *r, const char *dataset, const char *embed, bool noop, json_t *body);

/* Sets up and frees the AI state of a gateway (ai_routes.c): text registry, embedder,
 * generator. */
void gw_ai_init(lh_gateway *g, const char *cache_dir);
void gw_ai_free(lh_gateway *g);
void gw_handle_upsert(gw_req *r);
void gw_handle_delete(gw_req *r);
void gw_handle_set_key(gw_req *r);
void gw_handle_journal(gw_req *r);
void gw_handle_cache(gw_req *r);
void gw_handle_cache_pin(gw_req *r);
void gw_handle_cache_unpin(gw_req *r);

/* Streaming (sql.c): bytes handed to the client so far, and the reference drop. */
uint64_t gw_stream_sent(gw_stream *s);
void gw_stream_release(gw_stream *s);

/* The embedded OpenAPI document (openapi.c), NUL-terminated. */
extern const char gw_openapi_json[];
size_t gw_openapi_len(void);

#endif
