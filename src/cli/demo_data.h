/*
 * demo_data — the staffing sample behind `lakehouse demo-data`.
 *
 * Seven cross-referenced CSV tables (clients, candidates, job_orders, placements,
 * timesheets, call_log, email_log; 2,467,000 rows at scale 1) plus a README.txt,
 * generated deterministically: the same scale always gives byte-identical files.
 */
#ifndef LH_CLI_DEMO_DATA_H
#define LH_CLI_DEMO_DATA_H

#include <stdint.h>

#include "core/core.h"

/* Largest accepted scale (246.7M rows, about 37 GB of CSV). */
#define LH_DEMO_MAX_SCALE 100.0

/* Generates the staffing sample as CSV files in dir (created if missing): <table>.csv and
 * README.txt, each written to <name>.tmp and renamed only once every file is complete, so a
 * failed or interrupted run never leaves a partial file under a final name. scale multiplies
 * every row count (0 < scale <= LH_DEMO_MAX_SCALE; clients at least 10). progress (optional)
 * is called with table names without ".csv": done = 0 when a table starts, periodically, and
 * done = total when it is finished. Returns LH_OK, or LH_EINVAL (bad scale) / LH_EIO (file
 * system) with err naming the file and the cause; on error the temporary files are removed
 * and no final file is touched (short of a rename failing midway, which is checked for up
 * front). */
int lh_demo_generate(const char *dir, double scale,
                     void (*progress)(void *ctx, const char *table, int64_t done, int64_t total),
                     void *ctx, lh_error *err);

/* The `lakehouse demo-data` subcommand: parses argv (--out DIR default ./demo-data, --scale X
 * default 1, --help), prints a progress bar to stderr when it is a terminal and one summary
 * line per table on stdout, returns a process exit code (0 ok, 1 failure, 2 bad usage). */
int lh_cmd_demo_data(int argc, char **argv);

#endif
