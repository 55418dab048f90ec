/*
 * ingest — files (CSV, NDJSON) → Parquet (zstd) on storage → catalog commit, in one call.
 *
 * Schema inference uses DuckDB's sniffer, conservatively (a column that fails to convert
 * becomes VARCHAR). Re-ingesting the same bytes is a reported no-op (SHA-256 of the
 * source). An append to an existing dataset must fit its schema; otherwise the error names
 * the columns. Bad input gets an error naming file, line and column, and nothing is
 * committed — unless the caller asks for rejects, then bad rows go to <dataset>_rejects.
 */
#ifndef LH_INGEST_H
#define LH_INGEST_H

#include "catalog/catalog.h"
#include "core/core.h"

typedef struct lh_ingest lh_ingest;

typedef enum { LH_FORMAT_AUTO = 0, LH_FORMAT_CSV, LH_FORMAT_NDJSON } lh_ingest_format;

typedef struct lh_ingest_opts {
    const char *dataset;      /* target dataset (created if missing) */
    lh_ingest_format format;  /* AUTO: from source_name's extension, then content */
    const char *source_name;  /* name shown in errors and kept in the catalog (no dirs) */
    const char *const *types; /* NULL-terminated "column=TYPE" overrides, or NULL */
    bool rejects;             /* bad rows go to <dataset>_rejects; the rest is committed */
    const char *reason;       /* free text kept with the commit, or NULL */
    /* Progress: called from the ingesting thread with a fraction in [0,1]. May be NULL. */
    void (*progress)(void *ctx, double fraction);
    void *progress_ctx;
    volatile int *cancel; /* set non-zero to cancel, or NULL */
} lh_ingest_opts;

typedef struct lh_ingest_result {
    char dataset[129];
    char sha256[LH_SHA256_HEX];
    int64_t version;  /* committed version (the existing one if noop) */
    int64_t rows;     /* rows committed */
    int64_t rejected; /* rows sent to the rejects dataset */
    int64_t bytes;    /* source bytes */
    bool noop;        /* same bytes were already ingested: nothing changed */
    bool created;     /* this call created the dataset */
    double seconds;
    /* When the call fails on bad input, where in the source (also named in the message): */
    int64_t error_line;     /* 1-based line, 0 if not known */
    int64_t error_position; /* 1-based character in that line (invalid UTF-8), 0 if not known */
    char error_column[129]; /* the column's name, "" if not known */
} lh_ingest_result;

/* Opens the ingester over a catalog (borrowed) with cfg's cache_dir and memory limits. */
int lh_ingest_open(lh_catalog *cat, const lh_config *cfg, lh_ingest **out, lh_error *err);
/* Closes it. Accepts NULL. */
void lh_ingest_close(lh_ingest *ing);

/* Ingests a local file for who. On error nothing is committed, err names the problem
 * (file:line: column 'x': ...) and result (may be NULL) holds its error_line, error_column
 * and error_position where they are known. */
int lh_ingest_file(lh_ingest *ing, const lh_identity *who, const char *path,
                   const lh_ingest_opts *opts, lh_ingest_result *result, lh_error *err);

/* Parses "csv"/"ndjson"/"json"/"jsonl"/"auto"; LH_EINVAL otherwise. */
int lh_ingest_format_parse(const char *s, lh_ingest_format *out, lh_error *err);

#endif
