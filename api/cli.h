/*
 * cli.h — the ragd command line: global options and the subcommands.
 *
 * main.c parses the global options (--data DIR, --json, --quiet, -v) that
 * come before the subcommand, fills an rg_cli and dispatches to one of the
 * cmd_* functions with argv[0] set to the subcommand name. Each command
 * parses its own options, prints its result on stdout, one-line errors on
 * stderr ("ragd: error: ..."), and returns the process exit status:
 * 0 success, 1 failure (some input failed), 2 usage error.
 */
#ifndef RG_CLI_H
#define RG_CLI_H

typedef struct rg_cli {
    const char *data_dir; /* --data DIR, default $RAGD_DATA or "./ragd-data" */
    int data_explicit;    /* the data directory was chosen by --data or $RAGD_DATA */
    int json;             /* --json: machine-readable output */
    int quiet;            /* --quiet: no progress line */
    int fp32;             /* --fp32: the encoder in fp32 on every path (cli_open_encoder) */
} rg_cli;

int cmd_ingest(const rg_cli *cli, int argc, char **argv);
int cmd_sync(const rg_cli *cli, int argc, char **argv);
int cmd_rm(const rg_cli *cli, int argc, char **argv);
int cmd_reindex(const rg_cli *cli, int argc, char **argv);
int cmd_stats(const rg_cli *cli, int argc, char **argv);
int cmd_check(const rg_cli *cli, int argc, char **argv);
int cmd_search(const rg_cli *cli, int argc, char **argv);
int cmd_ask(const rg_cli *cli, int argc, char **argv);
int cmd_eval(const rg_cli *cli, int argc, char **argv);
int cmd_serve(const rg_cli *cli, int argc, char **argv);
int cmd_key(const rg_cli *cli, int argc, char **argv);
int cmd_help(const rg_cli *cli, int argc, char **argv);
int cmd_embed(const rg_cli *cli, int argc, char **argv);
int cmd_model(const rg_cli *cli, int argc, char **argv);

#endif
