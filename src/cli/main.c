/* lakehouse — one program, many subcommands; each calls the library's modules. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/demo_data.h"
#include "core/duckdb_capi.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"serve", cmd_serve, "run the HTTP API on --listen (default 127.0.0.1:8080)"},
    {"ingest", cmd_ingest, "ingest CSV or NDJSON files into a dataset"},
    {"sql", cmd_sql, "run a read-only SQL query over the datasets"},
    {"catalog", cmd_catalog, "list datasets, show one, or resync it from its Parquet files"},
    {"index", cmd_index, "build, search, evaluate and list vector indexes over dataset columns"},
    {"search", cmd_search, "search a text index by meaning, by words, or both (hybrid)"},
    {"ask", cmd_ask, "answer a question: NL->SQL, or --rag from a text index with sources"},
    {"upsert", cmd_upsert, "insert or update rows by primary key (a small delta, no rewrite)"},
    {"delete", cmd_delete, "delete rows by primary key"},
    {"key", cmd_key, "declare a dataset's primary key"},
    {"journal", cmd_journal, "the history of a record: every change, who, when and why"},
    {"replay", cmd_replay, "materialize a dataset as of a time or version as a new dataset"},
    {"compact", cmd_compact, "merge a dataset's delta files into new base files"},
    {"cache", cmd_cache, "pin or unpin a dataset in a server's memory"},
    {"demo-data", lh_cmd_demo_data, "generate the staffing sample as CSV files"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: lakehouse <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "  %-10s %s\n", "version", "print the program and DuckDB versions");
    fprintf(f, "\ncommon options (also in the config file and as LAKEHOUSE_* variables):\n"
               "  --config FILE      YAML config file\n"
               "  --data DIR         the local lake folder (default ./lake; LAKEHOUSE_DATA)\n"
               "  --listen HOST:PORT where serve listens (default 127.0.0.1:8080; "
               "LAKEHOUSE_LISTEN)\n"
               "\n'lakehouse <command> --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("lakehouse %s (DuckDB %s)\n", LH_VERSION, duckdb_library_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(cmd, commands[i].name) == 0) {
            /* Subcommands that need DuckDB refuse a mismatched library up front. */
            lh_error err = {0};
            if (lh_duckdb_check_version(&err)) {
                fprintf(stderr, "lakehouse: %s\n", err.msg);
                return 1;
            }
            return commands[i].fn(argc - 1, argv + 1);
        }
    fprintf(stderr, "lakehouse: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
