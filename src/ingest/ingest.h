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
    const char *key;          /* "col[,col]": primary key of a new dataset, or NULL */
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

/* Upserts and deletes by primary key: one atomic catalog commit adding one small delta
 * Parquet file (base files are never rewritten) and one write-once journal batch. */
typedef struct lh_upsert_opts {
    const char *dataset;     /* must exist and have a primary key */
    lh_ingest_format format; /* of the rows file; AUTO: from source_name's extension/content */
    const char *source_name; /* name shown in errors (no dirs) */
    const char *source;      /* journal source: "cli", "api", "tool", ... (NULL: "api") */
    const char *reason;      /* free text kept in the journal and the commit, or NULL */
    bool delete_rows;        /* the rows name keys to delete (other known columns ignored) */
    bool direct;             /* commit now even when the write-ahead log is on */
    /* Internal (the write-ahead log's replay): the commit records that it holds the log
     * wal_id's records up to wal_seq. NULL: none. */
    const char *wal_id;
    int64_t wal_seq;
} lh_upsert_opts;

typedef struct lh_upsert_result {
    int64_t version;    /* committed version (the current one when nothing changed) */
    int64_t rows_in;    /* rows in the input */
    int64_t inserted;   /* new keys */
    int64_t updated;    /* existing keys with a changed value */
    int64_t unchanged;  /* existing keys whose given values were already there */
    int64_t deleted;    /* keys deleted */
    int64_t absent;     /* keys asked to be deleted that did not exist (not an error) */
    int64_t duplicates; /* input rows superseded by a later row with the same key (last wins) */
    char duplicate_keys[256]; /* some of those keys, comma separated */
    char absent_keys[256];    /* some absent keys, comma separated */
    int64_t events;           /* journal events written */
    bool noop;                /* nothing changed; nothing committed */
    int64_t compacted;        /* the version an automatic compaction committed, or 0 */
    bool committed;           /* in the catalog at version (false: acknowledged through the log) */
    bool durable;             /* survives a crash: committed, or fsynced in the write-ahead log */
    int64_t wal_seq;          /* the log record holding it (not committed yet), or 0 */
    double seconds;
} lh_upsert_result;

/* Inserts or updates (o->delete_rows: deletes) the rows of a CSV/NDJSON file by the
 * dataset's primary key. With the write-ahead log started (lh_ingest_wal_start) and at most
 * wal_max_rows rows, the change is acknowledged once fsynced in the log (committed false,
 * durable true; visible to this process's queries through the hooks) and committed by the
 * log's flush; otherwise it is one catalog commit before returning. Columns absent from the file
 * keep their values on updated rows (NULL on inserted ones). Rows missing a key value, values of
 * the wrong type and unknown columns are refused with the row and column (LH_EINVAL); nothing
 * changes then. result may be NULL. */
int lh_ingest_upsert(lh_ingest *ing, const lh_identity *who, const char *path,
                     const lh_upsert_opts *o, lh_upsert_result *result, lh_error *err);

/* Declares "col[,col]" the primary key of an existing dataset (a new version, journaled).
 * Refused (LH_EINVAL, naming the duplicate key values) if the data has duplicate or NULL
 * keys. *version (may be NULL) receives the committed version. */
int lh_ingest_set_key(lh_ingest *ing, const lh_identity *who, const char *dataset, const char *key,
                      const char *reason, int64_t *version, lh_error *err);

/* Materializes dataset as it was at version (merge-on-read applied) as a new dataset target
 * (one base file; same columns and key; op "replay"). LH_EEXIST if target exists, LH_ENOENT
 * if the version does not. *version and *rows (may be NULL) receive the new dataset's
 * version (1) and row count. */
int lh_ingest_replay(lh_ingest *ing, const lh_identity *who, const char *dataset, int64_t version,
                     const char *target, const char *reason, int64_t *rows, lh_error *err);

typedef struct lh_compact_result {
    int64_t from_version; /* the version compacted */
    int64_t version;      /* the new version (from_version when noop) */
    int64_t files_before; /* base + delta files before */
    int64_t deltas_before;
    int64_t rows; /* rows in the new base file */
    bool noop;    /* nothing to compact (no deltas, at most one base file) */
    double seconds;
} lh_compact_result;

/* Merges a dataset's base and delta files into one new base file, committed as a new version
 * (op "compact", journaled). Earlier versions keep their files, so readers of them and time
 * travel are unaffected; lh_ingest_gc removes files later. result may be NULL. */
int lh_ingest_compact(lh_ingest *ing, const lh_identity *who, const char *dataset,
                      const char *reason, lh_compact_result *result, lh_error *err);

/* Deletes data/<dataset>/ files and the dataset's journal objects that no version committed
 * within retention_us (nor the latest version) references and that are older than
 * retention_us (so uncommitted uploads in flight are left alone): files old versions used,
 * journal batches a roll-up replaced, objects of commits that never happened. *deleted (may
 * be NULL) receives the count. Versions older than the retention may then fail to read. */
int lh_ingest_gc(lh_ingest *ing, const lh_identity *who, const char *dataset, int64_t retention_us,
                 int64_t *deleted, lh_error *err);

/* Rolls the dataset's journal batches of each month before the month of before_us (two or
 * more per month) into one Parquet file per month, committed as a new version (op
 * "journal_rollup") whose journal list names the monthly files; the batches themselves are
 * left for gc. *rolled (may be NULL) receives the number of batches replaced (0: nothing to
 * do, no version). The journal's content is unchanged. */
int lh_ingest_journal_rollup(lh_ingest *ing, const lh_identity *who, const char *dataset,
                             int64_t before_us, int64_t *rolled, lh_error *err);

/* The local write-ahead log for small upserts and deletes (ADR 0012). What the log tells the
 * process's query engine; called with the log's lock held, so they must not call back into
 * the ingester. */
typedef struct lh_ingest_wal_hooks {
    void *ctx;
    /* A record was fsynced: rows (a JSON array; each row an array of m's column values as
     * text or null, then "true" if it deletes its key) are the new current rows of their keys,
     * newer than m and than every earlier record. Borrowed for the call. */
    void (*apply)(void *ctx, const lh_manifest *m, const char *wal_id, int64_t seq,
                  const json_t *rows);
    /* The records of dataset up to seq are committed (the latest version holds them): the
     * rows apply handed over for them can go. */
    void (*committed)(void *ctx, const char *dataset, const char *wal_id, int64_t seq);
    /* Optional: sets *rows (caller frees; as apply's, every row "false" for deleted) to m's
     * rows at version m->version where `where` (SQL over m's columns) holds, read from memory,
     * and returns 0; non-zero (nothing set) if it does not hold that version in memory: the
     * upsert then reads the rows from Parquet. The current rows of an upsert's keys. */
    int (*current)(void *ctx, const lh_manifest *m, const char *where, json_t **rows);
} lh_ingest_wal_hooks;

/* Starts the log of this lake for this process: takes its lock (held until close; LH_EUNAVAIL
 * if another live process holds it), commits what a dead process left in it, and starts the
 * flush thread. hooks may be NULL. No-op if wal_max_rows is 0. */
int lh_ingest_wal_start(lh_ingest *ing, const lh_ingest_wal_hooks *hooks, lh_error *err);
/* Commits every record of the log now (the flush thread does this on its own after
 * wal_flush_ms). On a lost race with another writer the records are re-applied on top of the
 * new version. LH_OK if the log is off. */
int lh_ingest_wal_flush(lh_ingest *ing, lh_error *err);
/* Commits the records of a log no live process holds (a process killed since its last
 * flush), then empties it; nothing if there is no log or another live process holds it.
 * *replayed (may be NULL) receives the number of records committed. lh_ingest_open calls it. */
int lh_ingest_wal_recover(lh_ingest *ing, int64_t *replayed, lh_error *err);

/* Parses "csv"/"json"/"jsonl"/"auto"; LH_EINVAL otherwise. */
int lh_ingest_format_parse(const char *s, lh_ingest_format *out, lh_error *err);

#endif
