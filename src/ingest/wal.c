/* The local write-ahead log for small upserts and deletes (ADR 0012).
 *
 * Ack path: compute the resulting whole rows and journal events as an upsert does (against
 * the dataset's known version plus the rows still pending in the log), append ONE record to
 * <data_dir>/_wal/log, fdatasync it, hand the rows to the query engine (hooks.apply), and
 * acknowledge. Flush (a thread, after wal_flush_ms; and at close): all pending records of a
 * dataset become one delta file + one journal batch + one put-if-absent commit whose manifest
 * records the log's id and the highest seq it holds ("wal" mark). A lost race re-applies the
 * records' inputs (kept as given), in order, through the normal upsert path on top of the new
 * version.
 * Replay (a process that finds a log no live process holds): records at or below the mark
 * are skipped, so a crash between a commit and the log's truncation applies nothing twice.
 *
 * Log file: a 128-byte header line {"lh_wal":1,"id":...,"next_seq":N} (rewritten in place
 * when the log is emptied, so seqs never repeat under one id), then one line per record:
 * "<crc32 hex> <json>\n". A torn last record (no newline, bad checksum or JSON) is cut off
 * with a log line; records before it are kept. The lock is flock() on _wal/lock.
 *
 * Locks: flush_mu (one flush at a time) is taken before mu; mu guards the records, the
 * datasets' known versions, the pending tables and the file. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ingest/ingest_int.h"

#define WAL_HEADER_LEN 128
#define WAL_ROTATE_BYTES (4 << 20)
#define WAL_FLUSH_RECORDS 256

typedef struct wal_rec {
    int64_t seq;
    char *dataset;
    json_t *j; /* the record as logged */
} wal_rec;

typedef struct wal_ds {
    char *name;
    lh_manifest *known; /* the version the pending records build on */
    char *pending;      /* table of the pending rows (one per key), or NULL */
    /* The table also holds the newest delta row of every key of version table_version (a
     * current row is then read from the base files and the table alone, not from every delta
     * file), kept across flushes of this log. */
    bool covers;
    int64_t table_version;
    bool rebase; /* a flush was rebased: the records acknowledged meanwhile are rebased too */
    lh_row_writer writer; /* writes the pending table */
} wal_ds;

typedef struct ing_wal {
    lh_ingest *ing;
    char *dir, *log_path, *lock_path;
    int lock_fd, fd;
    char id[37];
    lh_ingest_wal_hooks hooks;
    pthread_mutex_t flush_mu; /* one flush at a time (guards flush_c); before mu */
    duckdb_connection flush_c;
    pthread_mutex_t mu; /* guards all below */
    duckdb_connection ack_c;
    ing_small *small; /* the small upserts' statements on ack_c */
    int64_t next_seq;
    int64_t size;  /* bytes in the log */
    wal_rec *recs; /* pending, in seq order */
    size_t nrecs;
    wal_ds *ds;
    size_t nds;
    uint64_t oldest_ns; /* when the oldest pending record was acknowledged */
    pthread_cond_t cv;
    bool stop;
    bool started;
    pthread_t thread;
} ing_wal;

/* ------------------------------------------------------------ the file */

static uint32_t crc32_of(const char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= (uint8_t)p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

static int header_write(ing_wal *w, lh_error *err)
{
    char h[WAL_HEADER_LEN];
    memset(h, ' ', sizeof h);
    int n = snprintf(h, sizeof h, "{\"lh_wal\":1,\"id\":\"%s\",\"next_seq\":%" PRId64 "}", w->id,
                     w->next_seq);
    h[n] = ' ';
    h[WAL_HEADER_LEN - 1] = '\n';
    if (pwrite(w->fd, h, sizeof h, 0) != (ssize_t)sizeof h)
        return lh_error_set(err, LH_EIO, "%s: cannot write the header: %s", w->log_path,
                            strerror(errno));
    return LH_OK;
}

/* Empties the log (header only, next_seq kept). Caller holds mu. */
static int log_truncate(ing_wal *w, lh_error *err)
{
    int rc = header_write(w, err);
    if (rc) return rc;
    if (ftruncate(w->fd, WAL_HEADER_LEN) != 0 || fdatasync(w->fd) != 0)
        return lh_error_set(err, LH_EIO, "%s: cannot truncate: %s", w->log_path, strerror(errno));
    w->size = WAL_HEADER_LEN;
    return LH_OK;
}

static void rec_line(lh_buf *b, const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
    lh_buf_printf(b, "%08x %s\n", crc32_of(s, strlen(s)), s);
    free(s);
}

/* Rewrites the log as header + the pending records (a long log whose head is committed).
 * Caller holds mu. */
static int log_rewrite(ing_wal *w, lh_error *err)
{
    char *tmp = lh_sprintf("%s.tmp", w->log_path);
    lh_buf b = {0};
    int rc = LH_OK, fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = lh_error_set(err, LH_EIO, "%s: %s", tmp, strerror(errno));
        goto done;
    }
    int old = w->fd;
    w->fd = fd;
    rc = header_write(w, err);
    w->fd = old;
    for (size_t i = 0; i < w->nrecs; i++)
        rec_line(&b, w->recs[i].j);
    if (!rc && b.len && pwrite(fd, b.data, b.len, WAL_HEADER_LEN) != (ssize_t)b.len)
        rc = lh_error_set(err, LH_EIO, "%s: %s", tmp, strerror(errno));
    if (!rc && (fdatasync(fd) != 0 || rename(tmp, w->log_path) != 0))
        rc = lh_error_set(err, LH_EIO, "%s: %s", w->log_path, strerror(errno));
    if (rc) {
        close(fd);
        unlink(tmp);
        goto done;
    }
    int dfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    close(w->fd);
    w->fd = fd;
    w->size = WAL_HEADER_LEN + (int64_t)b.len;
done:
    free(tmp);
    lh_buf_free(&b);
    return rc;
}

/* Appends one record and makes it durable. On failure the log is cut back. Caller holds mu. */
static int log_append(ing_wal *w, const json_t *j, lh_error *err)
{
    lh_buf b = {0};
    rec_line(&b, j);
    int rc = LH_OK;
    if (pwrite(w->fd, b.data, b.len, w->size) != (ssize_t)b.len || fdatasync(w->fd) != 0) {
        rc = lh_error_set(err, LH_EIO, "%s: cannot append a record: %s", w->log_path,
                          strerror(errno));
        if (ftruncate(w->fd, w->size) != 0) { /* the torn tail is cut at the next open */
        }
    } else {
        w->size += (int64_t)b.len;
    }
    lh_buf_free(&b);
    return rc;
}

static void recs_free(wal_rec *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].dataset);
        json_decref(r[i].j);
    }
    free(r);
}

/* Reads the log: its id and next seq into w, its intact records into *out. A torn or corrupt
 * record ends the log: it and anything after it are cut off, with a log line. A header that
 * cannot be read moves the file aside (kept for inspection) and starts a new log. */
static int log_load(ing_wal *w, wal_rec **out, size_t *nout, lh_error *err)
{
    *out = NULL;
    *nout = 0;
    char *data = NULL;
    size_t len = 0;
    int rc = lh_file_read(w->log_path, &data, &len, err);
    if (rc) return rc;
    json_t *h = len >= WAL_HEADER_LEN ? json_loadb(data, WAL_HEADER_LEN, 0, NULL) : NULL;
    const char *id = json_string_value(json_object_get(h, "id"));
    json_t *ns = json_object_get(h, "next_seq");
    if (!id || strlen(id) != 36 || !json_is_integer(ns)) {
        if (len) {
            char *aside = lh_sprintf("%s.bad-%" PRId64, w->log_path, lh_wall_us());
            if (rename(w->log_path, aside) != 0) aside[0] = 0;
            lh_log(LH_LOG_ERROR, "wal.bad_header", "log", w->log_path, "moved_to", aside, NULL);
            free(aside);
        }
        lh_uuid(w->id);
        w->next_seq = 1;
        json_decref(h);
        free(data);
        return LH_OK;
    }
    snprintf(w->id, sizeof w->id, "%s", id);
    w->next_seq = json_integer_value(ns);
    json_decref(h);
    size_t off = WAL_HEADER_LEN;
    wal_rec *recs = NULL;
    size_t n = 0;
    while (off < len) {
        char *nl = memchr(data + off, '\n', len - off);
        size_t ll = nl ? (size_t)(nl - (data + off)) : 0;
        json_t *j = NULL;
        unsigned crc = 0;
        if (nl && ll > 9 && data[off + 8] == ' ' && sscanf(data + off, "%8x", &crc) == 1 &&
            crc == crc32_of(data + off + 9, ll - 9))
            j = json_loadb(data + off + 9, ll - 9, 0, NULL);
        json_t *seq = json_object_get(j, "seq");
        const char *ds = json_string_value(json_object_get(j, "dataset"));
        if (!json_is_integer(seq) || !ds) {
            char at[32], cut[32];
            snprintf(at, sizeof at, "%zu", off);
            snprintf(cut, sizeof cut, "%zu", len - off);
            lh_log(LH_LOG_WARN, "wal.torn_record", "log", w->log_path, "offset", at,
                   "bytes_ignored", cut, NULL);
            json_decref(j);
            break;
        }
        recs = lh_realloc(recs, (n + 1) * sizeof *recs);
        recs[n].seq = json_integer_value(seq);
        recs[n].dataset = lh_strdup(ds);
        recs[n].j = j;
        if (recs[n].seq >= w->next_seq) w->next_seq = recs[n].seq + 1;
        n++;
        off += ll + 1;
    }
    w->size = (int64_t)off;
    free(data);
    *out = recs;
    *nout = n;
    return LH_OK;
}

/* Opens and locks the log (creating it if create). *busy: another live process holds it. */
static int log_open(ing_wal *w, bool create, bool *busy, lh_error *err)
{
    *busy = false;
    if (create && lh_mkdir_p(w->dir, err)) return LH_EIO;
    w->lock_fd = open(w->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (w->lock_fd < 0) return lh_error_set(err, LH_EIO, "%s: %s", w->lock_path, strerror(errno));
    if (flock(w->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        *busy = errno == EWOULDBLOCK;
        return lh_error_set(err, *busy ? LH_EUNAVAIL : LH_EIO,
                            "%s: the write-ahead log is held by another process (%s)", w->lock_path,
                            strerror(errno));
    }
    w->fd = open(w->log_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (w->fd < 0) return lh_error_set(err, LH_EIO, "%s: %s", w->log_path, strerror(errno));
    return LH_OK;
}

/* ------------------------------------------------------------ datasets */

static wal_ds *ds_get(ing_wal *w, const char *name)
{
    for (size_t i = 0; i < w->nds; i++)
        if (strcmp(w->ds[i].name, name) == 0) return &w->ds[i];
    w->ds = lh_realloc(w->ds, (w->nds + 1) * sizeof *w->ds);
    wal_ds *d = &w->ds[w->nds++];
    memset(d, 0, sizeof *d);
    d->name = lh_strdup(name);
    return d;
}

static bool ds_has_pending(const ing_wal *w, const char *name)
{
    for (size_t i = 0; i < w->nrecs; i++)
        if (strcmp(w->recs[i].dataset, name) == 0) return true;
    return false;
}

static void ds_drop_pending(ing_wal *w, wal_ds *d)
{
    lh_row_writer_reset(&d->writer);
    ing_small_reset(w->small); /* some may read the table */
    lh_duckdb_drop_table(w->ack_c, &d->pending);
    d->covers = d->rebase = false;
}

#define COVER_MAX_BYTES (64LL << 20)

/* Makes d's table the newest delta row of every key of m (m's deltas up to COVER_MAX_BYTES of
 * Parquet; past that the table holds pending rows only). Caller holds mu, nothing pending. */
static void ds_cover(ing_wal *w, wal_ds *d, const lh_manifest *m)
{
    ds_drop_pending(w, d);
    int64_t bytes = 0;
    for (size_t i = 0; i < m->nfiles; i++)
        if (m->files[i].delta) bytes += m->files[i].size;
    if (bytes > COVER_MAX_BYTES || !m->nkey) return;
    lh_buf name = {0}, sql = {0}, list = {0};
    size_t n = 0;
    if (lh_manifest_file_list(w->ing->st, m, true, NULL, 0, &list, &n, NULL)) goto done;
    lh_buf_puts(&name, "lh_wal.");
    lh_sql_ident(&name, m->dataset);
    lh_buf_printf(&sql, "CREATE OR REPLACE TABLE %s AS SELECT ", name.data);
    for (size_t k = 0; k < m->ncolumns; k++) {
        lh_buf_printf(&sql, "CAST(NULL AS %s) AS ", m->columns[k].type);
        lh_sql_ident(&sql, m->columns[k].name);
        lh_buf_puts(&sql, ", ");
    }
    lh_buf_puts(&sql, "0::BIGINT AS " LH_DELTA_SEQ ", false AS " LH_DELTA_DELETED " WHERE false");
    if (n) {
        lh_buf_puts(&sql, " UNION ALL SELECT * FROM (SELECT ");
        for (size_t k = 0; k < m->ncolumns; k++) {
            lh_sql_ident(&sql, m->columns[k].name);
            lh_buf_puts(&sql, ", ");
        }
        lh_buf_printf(&sql,
                      LH_DELTA_SEQ ", " LH_DELTA_DELETED " FROM read_parquet(%s) QUALIFY "
                                   "row_number() OVER (PARTITION BY ",
                      list.data);
        lh_sql_ident_list(&sql, m->key, m->nkey, NULL);
        lh_buf_puts(&sql, " ORDER BY " LH_DELTA_SEQ " DESC) = 1)");
    }
    lh_error e = {0};
    if (lh_duckdb_exec(w->ack_c, sql.data, "delta rows", &e)) {
        lh_log(LH_LOG_WARN, "wal.cover_failed", "dataset", m->dataset, "error", e.msg, NULL);
        goto done;
    }
    d->pending = lh_buf_steal(&name);
    d->covers = true;
    d->table_version = m->version;
done:
    lh_buf_free(&name);
    lh_buf_free(&sql);
    lh_buf_free(&list);
}

/* A copy of m without its delta files: what a lookup reads beside a covering table. */
static lh_manifest *base_only(const lh_manifest *m)
{
    lh_manifest *b = lh_manifest_clone(m);
    size_t k = 0;
    for (size_t i = 0; i < b->nfiles; i++) {
        if (b->files[i].delta)
            free(b->files[i].key);
        else
            b->files[k++] = b->files[i];
    }
    b->nfiles = k;
    return b;
}

/* ------------------------------------------------------------ commit */

static void sql_text_or_null(lh_buf *b, const json_t *v)
{
    if (json_is_string(v))
        lh_sql_quote(b, json_string_value(v));
    else
        lh_buf_puts(b, "NULL");
}

/* The fast path: the records' whole rows (newest per key) as one delta on top of cur. */
static int commit_fast(ing_wal *w, const lh_manifest *cur, wal_rec *recs, size_t n,
                       int64_t *version, lh_error *err)
{
    duckdb_connection c = w->flush_c;
    lh_buf sql = {0}, ev = {0};
    int64_t net = 0;
    size_t nev = 0;
    int rc = LH_OK;
    bool all_del = true, same_reason = true;
    const char *reason = json_string_value(json_object_get(recs[n - 1].j, "reason"));
    /* The newest whole row of each key (records are in seq order: a later row replaces an
     * earlier one), found by the key's text in at. Deduplicated here rather than by a window
     * in SQL, which would also drop the sign of a -0.0. */
    json_t *all = json_array(), *at = json_object();
    for (size_t r = 0; r < n; r++) {
        json_t *j = recs[r].j;
        const char *rr = json_string_value(json_object_get(j, "reason"));
        same_reason = same_reason && ((!rr && !reason) || (rr && reason && !strcmp(rr, reason)));
        all_del = all_del && !strcmp(json_string_value(json_object_get(j, "op")), "delete");
        net += json_integer_value(json_object_get(j, "inserted")) -
               json_integer_value(json_object_get(j, "deleted"));
        size_t i;
        json_t *row;
        json_array_foreach(json_object_get(j, "whole"), i, row)
        {
            if (json_array_size(row) != cur->ncolumns + 1) {
                json_decref(all);
                json_decref(at);
                rc = lh_error_set(err, LH_ECONFLICT, "record %" PRId64 ": columns changed",
                                  recs[r].seq);
                goto done;
            }
            char *key = lh_manifest_row_key(cur, row);
            json_t *prev = json_object_get(at, key);
            if (prev) {
                json_array_set(all, (size_t)json_integer_value(prev), row);
            } else {
                json_object_set_new(at, key, json_integer((json_int_t)json_array_size(all)));
                json_array_append(all, row);
            }
            free(key);
        }
        json_t *e;
        json_array_foreach(json_object_get(j, "events"), i, e)
        {
            lh_buf_printf(&ev, "%s(%" PRId64, nev++ ? ", " : "",
                          (int64_t)json_integer_value(json_object_get(j, "ts")));
            for (size_t k = 0; k < 5; k++) {
                lh_buf_puts(&ev, ", ");
                sql_text_or_null(&ev, json_array_get(e, k));
            }
            const char *f[] = {"actor", "profile", "source", "reason"};
            for (size_t k = 0; k < 4; k++) {
                lh_buf_puts(&ev, ", ");
                sql_text_or_null(&ev, json_object_get(j, f[k]));
            }
            lh_buf_putc(&ev, ')');
        }
    }
    /* The newest row of each key, stamped with the version this commit makes. */
    lh_buf_puts(&sql, "CREATE OR REPLACE TEMP TABLE lh_delta AS SELECT ");
    for (size_t k = 0; k < cur->ncolumns; k++) {
        lh_sql_ident(&sql, cur->columns[k].name);
        lh_buf_puts(&sql, ", ");
    }
    lh_buf_printf(&sql, "%" PRId64 "::BIGINT AS " LH_DELTA_SEQ ", " LH_DELTA_DELETED " FROM (",
                  cur->version + 1);
    lh_manifest_rows_sql(cur, all, 0, &sql);
    json_decref(all);
    json_decref(at);
    lh_buf_putc(&sql, ')');
    if ((rc = lh_duckdb_exec(c, sql.data, "log delta", err))) goto done;
    lh_buf_reset(&sql);
    lh_buf_puts(&sql, "SELECT make_timestamp(ts) AS ts, key, field, old_value, new_value, op, "
                      "actor, profile, source, reason FROM (VALUES ");
    if (nev)
        lh_buf_append(&sql, ev.data, ev.len);
    else
        lh_buf_puts(&sql, "(0, '', '', NULL, NULL, '', '', '', '', NULL)");
    lh_buf_puts(&sql, ") AS t(ts, key, field, old_value, new_value, op, actor, profile, source, "
                      "reason)");
    if (!nev) lh_buf_puts(&sql, " WHERE false");
    ing_commit_spec spec = {.cur = cur,
                            .events_sql = sql.data,
                            .ndelta = 0,
                            .net_rows = net,
                            .op = all_del ? "delete" : "upsert",
                            .reason = same_reason ? reason : NULL,
                            .wal_id = w->id,
                            .wal_seq = recs[n - 1].seq};
    duckdb_result res;
    if ((rc = ing_query(c, "SELECT count(*) FROM lh_delta", &res, err))) goto done;
    spec.ndelta = duckdb_value_int64(&res, 0, 0);
    duckdb_destroy_result(&res);
    const char *actor = json_string_value(json_object_get(recs[n - 1].j, "actor"));
    const char *profile = json_string_value(json_object_get(recs[n - 1].j, "profile"));
    lh_identity who = {.actor = actor ? actor : "", .profile = profile ? profile : ""};
    int64_t nevents = 0;
    rc = ing_delta_commit(w->ing, c, &who, &spec, version, &nevents, err);
done:
    lh_buf_free(&sql);
    lh_buf_free(&ev);
    return rc;
}

/* The slow path: each record's input, in order, through the normal upsert on top of
 * whatever is committed now. A record refused for good (the dataset lost its key, or is
 * gone) is kept in _wal/failed with an error log line: never dropped silently. */
static int commit_rebase(ing_wal *w, wal_rec *recs, size_t n, lh_error *err)
{
    lh_log(LH_LOG_WARN, "wal.rebase", "dataset", recs[0].dataset, NULL);
    int rc = LH_OK;
    for (size_t r = 0; r < n && !rc; r++) {
        json_t *j = recs[r].j;
        /* The input again, under its own name's extension (the format guess reads it). */
        const char *name = json_string_value(json_object_get(j, "name"));
        const char *input = json_string_value(json_object_get(j, "input"));
        const char *dot = name ? strrchr(name, '.') : NULL;
        char *path = lh_sprintf("%s/wal-%s-%" PRId64 "%s", w->ing->tmp_dir, w->id, recs[r].seq,
                                dot && !strchr(dot, '/') && strlen(dot) < 16 ? dot : "");
        size_t len = input ? json_string_length(json_object_get(j, "input")) : 0;
        lh_error e = {0};
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(input ? input : "", 1, len, f) != len || fclose(f) != 0) {
            if (f) fclose(f);
            rc = lh_error_set(err, LH_EIO, "%s: cannot write", path);
            free(path);
            break;
        }
        const char *actor = json_string_value(json_object_get(j, "actor"));
        const char *profile = json_string_value(json_object_get(j, "profile"));
        lh_identity who = {.actor = actor ? actor : "", .profile = profile ? profile : ""};
        lh_upsert_opts o = {
            .dataset = recs[r].dataset,
            .format = (lh_ingest_format)json_integer_value(json_object_get(j, "format")),
            .source_name = name ? name : "log record",
            .source = json_string_value(json_object_get(j, "source")),
            .reason = json_string_value(json_object_get(j, "reason")),
            .delete_rows = !strcmp(json_string_value(json_object_get(j, "op")), "delete"),
            .direct = true,
            .wal_id = w->id,
            .wal_seq = recs[r].seq};
        lh_upsert_result ur;
        int urc = lh_ingest_upsert(w->ing, &who, path, &o, &ur, &e);
        unlink(path);
        free(path);
        if (urc == LH_EINVAL || urc == LH_ENOENT) {
            char *failed = lh_sprintf("%s/failed", w->dir);
            FILE *f = fopen(failed, "ab");
            lh_buf line = {0};
            rec_line(&line, j);
            if (f) {
                fwrite(line.data, 1, line.len, f);
                fflush(f);
                fdatasync(fileno(f));
                fclose(f);
            }
            char seq[32];
            snprintf(seq, sizeof seq, "%" PRId64, recs[r].seq);
            lh_log(LH_LOG_ERROR, "wal.record_refused", "dataset", recs[r].dataset, "seq", seq,
                   "error", e.msg, "kept_in", failed, NULL);
            lh_buf_free(&line);
            free(failed);
        } else if (urc) {
            rc = urc;
            if (err) *err = e;
        }
    }
    return rc;
}

/* Commits recs (all of one dataset, in seq order) and returns the version that holds them
 * (0: none, e.g. every rebased record was a no-op). fast: cur is the state the records were
 * computed on. Uses flush_c; caller holds flush_mu. */
static int commit_records(ing_wal *w, wal_rec *recs, size_t n, int64_t fast_version,
                          int64_t *version, bool *was_fast, lh_error *err)
{
    *version = 0;
    *was_fast = false;
    lh_manifest *cur = NULL;
    int rc = lh_catalog_get(w->ing->cat, &lh_identity_default, recs[0].dataset, 0, &cur, err);
    if (rc == LH_OK && cur->wal_id && !strcmp(cur->wal_id, w->id)) {
        /* Skip what the catalog already holds (a crash after the commit, before the log was
         * emptied). */
        size_t skip = 0;
        while (skip < n && recs[skip].seq <= cur->wal_seq)
            skip++;
        recs += skip;
        n -= skip;
    }
    if (rc || n == 0) goto done;
    if (cur->version == fast_version) {
        rc = commit_fast(w, cur, recs, n, version, err);
        *was_fast = rc == LH_OK;
        if (rc != LH_ECONFLICT) goto done;
        lh_error_clear(err);
    }
    if ((rc = commit_rebase(w, recs, n, err))) goto done;
    lh_manifest_free(cur);
    cur = NULL;
    rc = lh_catalog_get(w->ing->cat, &lh_identity_default, recs[0].dataset, 0, &cur, err);
    if (!rc) *version = cur->version;
done:
    lh_manifest_free(cur);
    return rc;
}

/* Groups recs by dataset (keeping seq order) and calls fn on each group. */
typedef int (*group_fn)(ing_wal *w, wal_rec *g, size_t n, void *ctx, lh_error *err);
static int by_dataset(ing_wal *w, const wal_rec *recs, size_t n, group_fn fn, void *ctx,
                      lh_error *err)
{
    bool *done = lh_calloc(n + 1, sizeof *done);
    wal_rec *g = lh_calloc(n + 1, sizeof *g);
    int rc = LH_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        if (done[i]) continue;
        size_t k = 0;
        for (size_t j = i; j < n; j++)
            if (!done[j] && strcmp(recs[j].dataset, recs[i].dataset) == 0) {
                g[k++] = recs[j];
                done[j] = true;
            }
        rc = fn(w, g, k, ctx, err);
    }
    free(g);
    free(done);
    return rc;
}

/* Replay of one dataset's records left by a dead process. The records were computed on
 * base_version (plus earlier pending records): the fast path holds if the catalog is still
 * there, or one version on by this log's own flush (the records acknowledged while that
 * flush was in flight); otherwise rebase. */
static int replay_group(ing_wal *w, wal_rec *g, size_t n, void *ctx, lh_error *err)
{
    int64_t *replayed = ctx;
    lh_manifest *cur = NULL;
    int64_t fast = -1, version = 0;
    if (lh_catalog_get(w->ing->cat, &lh_identity_default, g[0].dataset, 0, &cur, NULL) == LH_OK) {
        size_t first = 0;
        while (first < n && cur->wal_id && !strcmp(cur->wal_id, w->id) &&
               g[first].seq <= cur->wal_seq)
            first++;
        int64_t base =
            first < n ? json_integer_value(json_object_get(g[first].j, "base_version")) : -1;
        bool ours = cur->wal_id && !strcmp(cur->wal_id, w->id) && cur->wal_version == cur->version;
        if (cur->version == base || (ours && cur->version == base + 1)) fast = cur->version;
        *replayed += (int64_t)(n - first);
    }
    lh_manifest_free(cur);
    bool was_fast;
    return commit_records(w, g, n, fast, &version, &was_fast, err);
}

/* Opens the log (locked), commits what it holds, empties it. */
static int log_recover(ing_wal *w, bool create, int64_t *replayed, lh_error *err)
{
    bool busy = false;
    wal_rec *recs = NULL;
    size_t n = 0;
    int rc = log_open(w, create, &busy, err);
    if (rc) return rc;
    if ((rc = log_load(w, &recs, &n, err))) goto done;
    if (w->size < WAL_HEADER_LEN) { /* new (or moved aside): write a header */
        if ((rc = log_truncate(w, err))) goto done;
    }
    if (n) {
        char cnt[32];
        snprintf(cnt, sizeof cnt, "%zu", n);
        lh_log(LH_LOG_INFO, "wal.replay", "log", w->log_path, "records", cnt, NULL);
        if (duckdb_connect(w->ing->db, &w->flush_c) != DuckDBSuccess) {
            rc = lh_error_set(err, LH_EINTERNAL, "wal: cannot connect to DuckDB");
            goto done;
        }
        if ((rc = by_dataset(w, recs, n, replay_group, replayed, err))) goto done;
    }
    rc = log_truncate(w, err);
done:
    recs_free(recs, n);
    return rc;
}

static ing_wal *wal_new(lh_ingest *ing)
{
    ing_wal *w = lh_calloc(1, sizeof *w);
    w->ing = ing;
    w->dir = lh_strdup(ing->wal_dir);
    w->log_path = lh_path_join(w->dir, "log");
    w->lock_path = lh_path_join(w->dir, "lock");
    w->lock_fd = w->fd = -1;
    pthread_mutex_init(&w->mu, NULL);
    pthread_mutex_init(&w->flush_mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->small = ing_small_new();
    return w;
}

static void wal_free(ing_wal *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->nds; i++) {
        ds_drop_pending(w, &w->ds[i]);
        free(w->ds[i].name);
        lh_manifest_free(w->ds[i].known);
    }
    free(w->ds);
    recs_free(w->recs, w->nrecs);
    ing_small_free(w->small);
    if (w->ack_c) duckdb_disconnect(&w->ack_c);
    if (w->flush_c) duckdb_disconnect(&w->flush_c);
    if (w->fd >= 0) close(w->fd);
    if (w->lock_fd >= 0) close(w->lock_fd); /* releases the flock */
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->flush_mu);
    pthread_cond_destroy(&w->cv);
    free(w->dir);
    free(w->log_path);
    free(w->lock_path);
    free(w);
}

int lh_ingest_wal_recover(lh_ingest *ing, int64_t *replayed, lh_error *err)
{
    int64_t n = 0;
    if (replayed) *replayed = 0;
    if (ing->wal) return LH_OK; /* this process holds it */
    char *log = lh_path_join(ing->wal_dir, "log");
    struct stat sb;
    bool present = stat(log, &sb) == 0 && sb.st_size > WAL_HEADER_LEN;
    free(log);
    if (!present) return LH_OK;
    ing_wal *w = wal_new(ing);
    lh_error e = {0};
    int rc = log_recover(w, false, &n, &e);
    if (rc == LH_EUNAVAIL)
        rc = LH_OK; /* a live server holds it and will flush it */
    else if (rc && err)
        *err = e;
    wal_free(w);
    if (replayed) *replayed = n;
    return rc;
}

/* ------------------------------------------------------------ flush */

/* Commits the pending records of dataset name. Caller holds flush_mu (not mu). */
static int flush_dataset(ing_wal *w, const char *name, lh_error *err)
{
    pthread_mutex_lock(&w->mu);
    wal_ds *d = ds_get(w, name);
    int64_t fast = d->known && !d->rebase ? d->known->version : -1;
    size_t n = 0;
    wal_rec *g = lh_calloc(w->nrecs + 1, sizeof *g);
    for (size_t i = 0; i < w->nrecs; i++)
        if (strcmp(w->recs[i].dataset, name) == 0) {
            g[n] = w->recs[i];
            g[n].dataset = lh_strdup(name);
            json_incref(g[n].j);
            n++;
        }
    pthread_mutex_unlock(&w->mu);
    int64_t version = 0;
    bool was_fast = false;
    int rc = n ? commit_records(w, g, n, fast, &version, &was_fast, err) : LH_OK;
    if (rc || !n) goto done;
    int64_t top = g[n - 1].seq;
    lh_manifest *m = NULL;
    if (version) {
        /* A compaction right on top of the flush holds the same rows: later records may
         * build on it as well. */
        int64_t cv = ing_auto_compact(w->ing, &lh_identity_default, name);
        if (cv == version + 1) version = cv;
        lh_catalog_get(w->ing->cat, &lh_identity_default, name, version, &m, NULL);
    }
    pthread_mutex_lock(&w->mu);
    size_t k = 0;
    for (size_t i = 0; i < w->nrecs; i++) {
        if (strcmp(w->recs[i].dataset, name) == 0 && w->recs[i].seq <= top) {
            free(w->recs[i].dataset);
            json_decref(w->recs[i].j);
        } else {
            w->recs[k++] = w->recs[i];
        }
    }
    w->nrecs = k;
    d = ds_get(w, name);
    bool rebased = !was_fast || !m;
    if (d->covers && !rebased && d->known && d->table_version == d->known->version) {
        /* The flushed rows are now the newest delta rows of their keys: the table still
         * covers the new version (a compaction on top holds the same rows). */
        d->table_version = m->version;
    } else if (d->pending && !d->covers) {
        lh_buf sql = {0};
        lh_buf_printf(&sql, "DELETE FROM %s WHERE " LH_DELTA_SEQ " <= %" PRId64, d->pending, top);
        if (lh_duckdb_exec(w->ack_c, sql.data, "pending rows", NULL)) ds_drop_pending(w, d);
        lh_buf_free(&sql);
    }
    /* The version this flush committed is what later records build on (not the latest: a
     * commit by someone else after it must send those records through a rebase). After a
     * rebase the records acknowledged meanwhile were computed on rows it replaced: they are
     * rebased as well. */
    if (rebased) d->rebase = true;
    lh_manifest_free(d->known);
    d->known = m;
    if (!ds_has_pending(w, name) && (d->rebase || !d->covers)) ds_drop_pending(w, d);
    lh_error e = {0};
    if (w->nrecs == 0)
        rc = log_truncate(w, &e);
    else if (w->size > WAL_ROTATE_BYTES)
        rc = log_rewrite(w, &e);
    if (rc) {
        lh_log(LH_LOG_WARN, "wal.truncate_failed", "log", w->log_path, "error", e.msg, NULL);
        rc = LH_OK; /* the commit stands; replay skips what the catalog holds */
    }
    w->oldest_ns = w->nrecs ? lh_now_ns() : 0;
    pthread_mutex_unlock(&w->mu);
    if (w->hooks.committed) w->hooks.committed(w->hooks.ctx, name, w->id, top);
done:
    recs_free(g, n);
    return rc;
}

static int flush_all_locked(ing_wal *w, lh_error *err)
{
    int rc = LH_OK;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        char *name = w->nrecs ? lh_strdup(w->recs[0].dataset) : NULL;
        pthread_mutex_unlock(&w->mu);
        if (!name) break;
        rc = flush_dataset(w, name, err);
        free(name);
        if (rc) break;
    }
    return rc;
}

int lh_ingest_wal_flush(lh_ingest *ing, lh_error *err)
{
    ing_wal *w = ing->wal;
    if (!w) return LH_OK;
    pthread_mutex_lock(&w->flush_mu);
    int rc = flush_all_locked(w, err);
    pthread_mutex_unlock(&w->flush_mu);
    return rc;
}

static void *flush_main(void *arg)
{
    ing_wal *w = arg;
    uint64_t period = (uint64_t)w->ing->wal_flush_ms * 1000000ULL;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        uint64_t now = lh_now_ns();
        bool due = w->nrecs && (w->nrecs >= WAL_FLUSH_RECORDS || now >= w->oldest_ns + period);
        if (!due) {
            uint64_t wake = w->nrecs ? w->oldest_ns + period : now + 1000000000ULL;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t d = wake > now ? wake - now : 0;
            ts.tv_sec += (time_t)(d / 1000000000ULL);
            ts.tv_nsec += (long)(d % 1000000000ULL);
            if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&w->cv, &w->mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&w->mu);
        lh_error e = {0};
        pthread_mutex_lock(&w->flush_mu);
        int rc = flush_all_locked(w, &e);
        pthread_mutex_unlock(&w->flush_mu);
        if (rc) {
            lh_log(LH_LOG_WARN, "wal.flush_failed", "error", e.msg, NULL);
            struct timespec pause = {.tv_sec = 0, .tv_nsec = 200000000L}; /* then retry */
            nanosleep(&pause, NULL);
        }
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int lh_ingest_wal_start(lh_ingest *ing, const lh_ingest_wal_hooks *hooks, lh_error *err)
{
    if (ing->wal || ing->wal_max_rows <= 0) return LH_OK;
    ing_wal *w = wal_new(ing);
    int64_t replayed = 0;
    int rc = log_recover(w, true, &replayed, err);
    if (rc) goto fail;
    if (hooks) w->hooks = *hooks;
    if ((!w->flush_c && duckdb_connect(ing->db, &w->flush_c) != DuckDBSuccess) ||
        duckdb_connect(ing->db, &w->ack_c) != DuckDBSuccess) {
        rc = lh_error_set(err, LH_EINTERNAL, "wal: cannot connect to DuckDB");
        goto fail;
    }
    if ((rc = lh_duckdb_exec(w->ack_c, "CREATE SCHEMA IF NOT EXISTS lh_wal", "wal", err)))
        goto fail;
    if (pthread_create(&w->thread, NULL, flush_main, w) != 0) {
        rc = lh_error_set(err, LH_EINTERNAL, "wal: cannot start the flush thread");
        goto fail;
    }
    w->started = true;
    ing->wal = w;
    return LH_OK;
fail:
    wal_free(w);
    return rc;
}

void ing_wal_close(lh_ingest *ing)
{
    ing_wal *w = ing ? ing->wal : NULL;
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (w->started) pthread_join(w->thread, NULL);
    lh_error e = {0};
    if (lh_ingest_wal_flush(ing, &e))
        lh_log(LH_LOG_WARN, "wal.close_flush_failed", "error", e.msg, "note",
               "the records stay in the log; the next writer replays them", NULL);
    ing->wal = NULL;
    wal_free(w);
}

/* ------------------------------------------------------------ ack path */

int ing_wal_current(lh_ingest *ing, const lh_manifest *m, const char *where, json_t **rows)
{
    ing_wal *w = ing->wal;
    if (!w || !w->started || !w->hooks.current) return LH_ENOENT;
    return w->hooks.current(w->hooks.ctx, m, where, rows) ? LH_ENOENT : LH_OK;
}

int ing_wal_upsert(lh_ingest *ing, const lh_identity *who, const char *path,
                   const lh_upsert_opts *o, const char *name, lh_upsert_result *r, lh_error *err)
{
    ing_wal *w = ing->wal;
    lh_buf events = {0}, sql = {0};
    bool *given = NULL, general = false, *fresh = NULL;
    json_t *rec = NULL, *whole = NULL, *ev = NULL, *gv = NULL;
    int rc = LH_OK;
    pthread_mutex_lock(&w->mu);
    wal_ds *d = ds_get(w, o->dataset);
    if (!d->known || !ds_has_pending(w, o->dataset)) {
        /* Nothing pending: build on the latest version. */
        lh_manifest *m = NULL;
        if ((rc = lh_catalog_get(ing->cat, who, o->dataset, 0, &m, err))) goto done;
        char *now = lh_manifest_shape(m), *was = d->known ? lh_manifest_shape(d->known) : NULL;
        bool same_shape = was && strcmp(now, was) == 0;
        free(now);
        free(was);
        if (!same_shape || !d->covers || d->table_version != m->version) ds_cover(w, d, m);
        d->rebase = false;
        lh_manifest_free(d->known);
        d->known = m;
    }
    const lh_manifest *cur = d->known;
    int64_t seq = w->next_seq;
    given = lh_calloc(cur->ncolumns + 1, sizeof *given);
    lh_manifest *scan = d->covers ? base_only(cur) : NULL;
    /* The input as given (a rebase runs it again through the normal upsert). Text that is
     * not UTF-8 cannot go into the record: such an input commits directly. */
    char *raw = NULL;
    size_t rawlen = 0;
    if ((rc = lh_file_read(path, &raw, &rawlen, err))) {
        lh_manifest_free(scan);
        goto done;
    }
    /* A few rows of known columns: computed in C (upsert_small.c); else the general way. */
    lh_ingest_format fmt = o->format ? o->format : ing_guess_format(name, path);
    rc = ing_upsert_small(ing, w->small, w->ack_c, scan ? scan : cur, d->pending, path, raw, rawlen,
                          fmt, o->delete_rows, r, &whole, &ev, &fresh, err);
    if (rc == ING_NOT_SMALL) {
        general = true;
        rc = ing_upsert_prepare(ing, w->ack_c, scan ? scan : cur, d->pending, path, o, name, seq,
                                NULL, given, r, &events, NULL, err);
    }
    lh_manifest_free(scan);
    if (!rc && r->rows_in > ing->wal_max_rows) rc = WAL_TOO_BIG;
    if (!rc && !r->noop && general) {
        /* What the record holds: the given rows (for a rebase), the resulting whole rows
         * (the fast commit and the query engine), the journal events (durable with the
         * ack). */
        lh_buf_puts(&sql, "SELECT ");
        lh_manifest_text_columns(cur, &sql);
        lh_buf_puts(&sql, LH_DELTA_DELETED " FROM lh_delta");
        if (!(rc = lh_duckdb_rows_json(w->ack_c, sql.data, &whole, err)))
            rc = lh_duckdb_rows_json(w->ack_c, events.data, &ev, err);
    }
    if (!rc && !r->noop) {
        gv = json_stringn(raw, rawlen);
        if (!gv) rc = WAL_TOO_BIG;
    }
    free(raw);
    if (rc || r->noop) goto done;
    int64_t now = lh_wall_us();
    rec = json_pack("{s:I, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:I}", "seq",
                    (json_int_t)seq, "dataset", o->dataset, "op",
                    o->delete_rows ? "delete" : "upsert", "base_version", (json_int_t)cur->version,
                    "ts", (json_int_t)now, "actor", who && who->actor ? who->actor : "", "profile",
                    who && who->profile ? who->profile : "", "source",
                    ing_journal_source(who, o->source), "reason",
                    o->reason ? json_string(o->reason) : json_null(), "inserted",
                    (json_int_t)r->inserted, "updated", (json_int_t)r->updated, "deleted",
                    (json_int_t)r->deleted, "unchanged", (json_int_t)r->unchanged);
    json_object_set(rec, "input", gv);
    json_object_set_new(rec, "format", json_integer(o->format));
    json_object_set_new(rec, "name", json_string(name));
    json_object_set(rec, "whole", whole);
    json_object_set(rec, "events", ev);
    if ((rc = log_append(w, rec, err))) goto done;
    w->next_seq = seq + 1;
    /* Durable: the record is in the log. Now the rows are the newest of their keys, for the
     * next upsert here (the pending table) and for queries (the hook). */
    lh_error pe = {0};
    if (!d->pending) {
        lh_buf b = {0};
        lh_buf_puts(&b, "lh_wal.");
        lh_sql_ident(&b, o->dataset);
        lh_buf_reset(&sql);
        lh_manifest_table_sql(cur, b.data, LH_DELTA_SEQ, &sql);
        if (lh_duckdb_exec(w->ack_c, sql.data, "pending rows", &pe) == LH_OK)
            d->pending = lh_buf_steal(&b);
        lh_buf_free(&b);
    }
    if (!d->pending ||
        lh_row_writer_replace(&d->writer, w->ack_c, d->pending, cur, whole, seq, fresh, &pe)) {
        /* The record is durable; only this process's view of it failed. Flush now so the
         * catalog holds it before anything builds on a stale state. */
        lh_log(LH_LOG_WARN, "wal.pending_failed", "error", pe.msg, NULL);
    }
    w->recs = lh_realloc(w->recs, (w->nrecs + 1) * sizeof *w->recs);
    w->recs[w->nrecs].seq = seq;
    w->recs[w->nrecs].dataset = lh_strdup(o->dataset);
    w->recs[w->nrecs].j = rec;
    rec = NULL;
    if (w->nrecs++ == 0) w->oldest_ns = lh_now_ns();
    if (w->hooks.apply) w->hooks.apply(w->hooks.ctx, cur, w->id, seq, whole);
    pthread_cond_broadcast(&w->cv);
    r->committed = false;
    r->durable = true;
    r->wal_seq = seq;
    r->version = cur->version;
    r->events = (int64_t)json_array_size(ev);
done:
    /* The connection outlives the call: the input's temp table or view must not meet the
     * next input of the other kind (load_input replaces, it cannot change the kind). */
    if (general) {
        lh_duckdb_exec(w->ack_c, "DROP TABLE IF EXISTS lh_raw", "cleanup", NULL);
        lh_duckdb_exec(w->ack_c, "DROP VIEW IF EXISTS lh_raw", "cleanup", NULL);
    }
    pthread_mutex_unlock(&w->mu);
    json_decref(rec);
    json_decref(whole);
    json_decref(ev);
    json_decref(gv);
    free(given);
    free(fresh);
    lh_buf_free(&events);
    lh_buf_free(&sql);
    return rc;
}
