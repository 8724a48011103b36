/*
 * main.c — the ragd command line: global options, then a subcommand.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/cli.h"
#include "engine/base/log.h"

#define RAGD_VERSION "0.1.0"

typedef struct command {
    const char *name;
    int (*run)(const rg_cli *cli, int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"ingest", cmd_ingest, "add files and folders to the index"},
    {"sync", cmd_sync, "make a collection mirror folders: add, update, delete"},
    {"rm", cmd_rm, "remove documents from the index"},
    {"search", cmd_search, "search the index"},
    {"ask", cmd_ask, "answer a question from the documents, with citations"},
    {"reindex", cmd_reindex, "embed a collection again (e.g. with another model)"},
    {"stats", cmd_stats, "collections, documents, chunks and vectors"},
    {"check", cmd_check, "check that the store and the vector indexes are sound"},
    {"key", cmd_key, "create, list and revoke API keys of the HTTP service"},
    {"serve", cmd_serve, "serve search, answers and OpenAI-compatible chat over HTTP"},
    {"eval", cmd_eval, "measure retrieval quality on a BEIR-layout dataset"},
    {"embed", cmd_embed, "print embeddings of texts as JSON"},
    {"model", cmd_model, "import and list encoder models"},
    {"help", cmd_help, "show this help"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: ragd [--data DIR] [--json] [--quiet] [--fp32] [-v] COMMAND [ARGS...]\n\n"
               "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nglobal options:\n"
               "  --data DIR   data directory (default $RAGD_DATA or ./ragd-data)\n"
               "  --json       machine-readable output\n"
               "  --quiet      no progress line\n"
               "  --fp32       embed passages and queries with fp32 weights (exact, slower;\n"
               "               by default both use int8 weights where the CPU has VNNI)\n"
               "  -v           more diagnostics\n"
               "  --version    print the version\n\n"
               "'ragd COMMAND --help' describes a command.\n");
}

int cmd_help(const rg_cli *cli, int argc, char **argv)
{
    (void)cli, (void)argc, (void)argv;
    usage(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    /* A file-size limit (ulimit -f, quotas) then fails the write with EFBIG,
       which ragd reports and recovers from, instead of killing it mid-save. */
    signal(SIGXFSZ, SIG_IGN);
    rg_cli cli = {.data_dir = "./ragd-data"};
    const char *env = getenv("RAGD_DATA");
    if (env && env[0]) cli.data_dir = env, cli.data_explicit = 1;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--data") == 0 && i + 1 < argc) {
            cli.data_dir = argv[++i];
            cli.data_explicit = 1;
        } else if (strncmp(a, "--data=", 7) == 0) {
            cli.data_dir = a + 7;
            cli.data_explicit = 1;
        } else if (strcmp(a, "--json") == 0) {
            cli.json = 1;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            cli.quiet = 1;
        } else if (strcmp(a, "--fp32") == 0) {
            cli.fp32 = 1;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            rg_log_set_level(RG_LOG_INFO);
        } else if (strcmp(a, "--version") == 0) {
            printf("ragd %s\n", RAGD_VERSION);
            return 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "ragd: error: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    for (size_t c = 0; c < N_COMMANDS; c++)
        if (strcmp(argv[i], commands[c].name) == 0) return commands[c].run(&cli, argc - i, argv + i);
    fprintf(stderr, "ragd: error: unknown command '%s' (see 'ragd help')\n", argv[i]);
    return 2;
}
