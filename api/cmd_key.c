/*
 * cmd_key.c — `ragd key create|list|revoke`: API keys of the HTTP service
 * (index/keys.h).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "api/cli_util.h"
#include "index/keys.h"

static int key_usage(void)
{
    puts("usage: ragd key create NAME --scope read[,write,admin] [--collection NAME]...\n"
         "                [--user USER] [--group GROUP]...\n"
         "       ragd key list\n"
         "       ragd key revoke NAME\n\n"
         "create prints the new key once; ragd keeps only its SHA-256. Scopes: read\n"
         "(search, answers, chat, embeddings), write (documents), admin (metrics and\n"
         "everything). --collection limits the key to those collections. The key reads\n"
         "documents as --user (default: its name) and the --group groups, which document\n"
         "access lists name.");
    return 0;
}

static int key_create(const rg_cli *cli, int argc, char **argv)
{
    const char *colls[RG_KEY_COLLECTIONS_MAX], *groups[RG_READER_GROUPS_MAX];
    rg_key_spec spec = {.collections = colls, .groups = groups};
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((rc = cli_opt(argc, argv, &i, "--scope", &v))) {
            if (rc < 0) return 2;
            if (!(spec.scopes = rg_scopes_parse(v)))
                return cli_fail("--scope takes read, write and admin, comma-separated, not '%s'",
                                v),
                       2;
        } else if ((rc = cli_opt(argc, argv, &i, "--collection", &v))) {
            if (rc < 0) return 2;
            if (spec.n_collections == RG_KEY_COLLECTIONS_MAX)
                return cli_fail("at most %d --collection options", RG_KEY_COLLECTIONS_MAX), 2;
            colls[spec.n_collections++] = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--group", &v))) {
            if (rc < 0) return 2;
            if (spec.n_groups == RG_READER_GROUPS_MAX)
                return cli_fail("at most %d --group options", RG_READER_GROUPS_MAX), 2;
            groups[spec.n_groups++] = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--user", &v))) {
            if (rc < 0) return 2;
            spec.user = v;
        } else if (argv[i][0] == '-' || spec.name) {
            return cli_fail("unknown argument '%s' for key create", argv[i]), 2;
        } else {
            spec.name = argv[i];
        }
    }
    if (!spec.name) return cli_fail("key create needs a NAME"), 2;
    if (!spec.scopes) return cli_fail("key create needs --scope"), 2;
    rg_error err;
    rg_error_clear(&err);
    rg_store *s;
    if (cli_open_store(cli, 1, &s, &err)) return cli_fail_err(&err);
    char key[RG_KEY_TEXT_LEN + 1];
    rg_status st = rg_key_create(s, &spec, key, &err);
    rg_store_close(s);
    if (st) return cli_fail_err(&err);
    if (cli->json)
        printf("{\"name\":\"%s\",\"key\":\"%s\"}\n", spec.name, key);
    else
        printf("%s\n", key);
    if (!cli->json && !cli->quiet)
        fprintf(stderr, "ragd: key '%s' created; it is shown only this once\n", spec.name);
    return 0;
}

static int key_list(const rg_cli *cli)
{
    rg_error err;
    rg_error_clear(&err);
    rg_store *s;
    if (cli_open_store(cli, 1, &s, &err)) return cli_fail_err(&err);
    rg_key_info *keys;
    size_t n;
    rg_status st = rg_key_list(s, &keys, &n, &err);
    rg_store_close(s);
    if (st) return cli_fail_err(&err);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        const rg_key_info *k = &keys[i];
        char scopes[32];
        rg_scopes_format(k->scopes, scopes, sizeof scopes);
        if (cli->json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddItemToArray(arr, o);
            cJSON_AddStringToObject(o, "name", k->name);
            cJSON_AddStringToObject(o, "prefix", k->prefix);
            cJSON_AddStringToObject(o, "scopes", scopes);
            cJSON *colls = cJSON_AddArrayToObject(o, "collections");
            for (size_t j = 0; j < k->n_collections; j++)
                cJSON_AddItemToArray(colls, cJSON_CreateString(k->collections[j]));
            cJSON_AddStringToObject(o, "user", k->user);
            cJSON *groups = cJSON_AddArrayToObject(o, "groups");
            for (size_t j = 0; j < k->n_groups; j++)
                cJSON_AddItemToArray(groups, cJSON_CreateString(k->groups[j]));
            cJSON_AddNumberToObject(o, "created_at", (double)k->created_at);
            cJSON_AddBoolToObject(o, "revoked", k->revoked_at != 0);
            continue;
        }
        printf("%-20s %s…  %-16s %s%s\n", k->name, k->prefix, scopes,
               k->n_collections ? "some collections" : "all collections",
               k->revoked_at ? "  (revoked)" : "");
    }
    if (cli->json) {
        char *text = cJSON_PrintUnformatted(arr);
        if (text) puts(text);
        cJSON_free(text);
    } else if (!n) {
        puts("no keys (create one with: ragd key create NAME --scope read)");
    }
    cJSON_Delete(arr);
    rg_key_list_free(keys, n);
    return 0;
}

int cmd_key(const rg_cli *cli, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        key_usage();
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "create") == 0) return key_create(cli, argc - 1, argv + 1);
    if (strcmp(argv[1], "list") == 0) return argc == 2 ? key_list(cli) : (key_usage(), 2);
    if (strcmp(argv[1], "revoke") == 0) {
        if (argc != 3) return cli_fail("key revoke takes one NAME"), 2;
        rg_error err;
        rg_error_clear(&err);
        rg_store *s;
        if (cli_open_store(cli, 0, &s, &err)) return cli_fail_err(&err);
        rg_status st = rg_key_revoke(s, argv[2], &err);
        rg_store_close(s);
        if (st) return cli_fail_err(&err);
        if (!cli->quiet) fprintf(stderr, "ragd: key '%s' revoked\n", argv[2]);
        return 0;
    }
    return cli_fail("key takes create, list or revoke, not '%s'", argv[1]), 2;
}
