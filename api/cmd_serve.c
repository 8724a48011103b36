/*
 * cmd_serve.c — `ragd serve`: the HTTP service (serve.h) until SIGTERM or
 * SIGINT, then a graceful stop.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/cli_util.h"
#include "api/serve.h"
#include "ingest/pii.h"

/* Longest HOST:PORT. */
#define LISTEN_MAX 128

/* the usage text below gives the default */
_Static_assert(SERVE_SAVE_SECONDS == 30, "serve_usage names SERVE_SAVE_SECONDS");

static int serve_usage(void)
{
    puts("usage: ragd serve [--listen HOST:PORT] [--workers N] [--io-threads N]\n"
         "                  [--max-body BYTES] [--timeout SECONDS] [--model NAME]\n"
         "                  [--sync-root DIR]... [--pii-mask] [--no-auth] [--quiet-requests]\n"
         "                  [--save-interval SECONDS]\n"
         "                  [--jwt-secret-file FILE | --jwt-public-key PEM]\n"
         "                  [--jwt-issuer ISS] [--jwt-audience AUD]\n"
         "                  [--llm URL --llm-model NAME [--llm-kind openai|ollama]\n"
         "                   [--llm-timeout S] [--llm-max-tokens N] [--llm-context N]\n"
         "                   [--allow-private]]\n\n"
         "Serves search, answers, OpenAI-compatible chat completions and embeddings\n"
         "over HTTP (GET /openapi.json describes them). --listen defaults to\n"
         "127.0.0.1:8080; port 0 picks a free port. Each of the --workers (default:\n"
         "one per core) holds its own searcher and encoder. --max-body caps request\n"
         "bodies (default 1048576); --timeout bounds a request's wait and run\n"
         "(default 120). Requests are logged as JSON lines on stderr, unless\n"
         "--quiet-requests. SIGTERM or SIGINT stops it gracefully: requests in\n"
         "flight finish, new ones are refused. POST /v1/collections/C/sync ingests a\n"
         "folder on the server, which must lie inside a --sync-root (symlinks that\n"
         "lead out of it are skipped). --pii-mask masks personal data (as ragd\n"
         "ingest --pii-mask does) in every upload and sync before it is stored.\n"
         "Uploads and deletes change the vector index in memory; each worker saves\n"
         "it --save-interval seconds after its first unsaved change (default 30,\n"
         "0: after every write; less often when saves take long) and when it stops.\n"
         "A crash loses no document: the next start embeds what the file lacks.\n\n"
         "Every /v1 route and /metrics needs an API key (ragd key create) sent as\n"
         "\"Authorization: Bearer KEY\" or \"X-API-Key: KEY\". With --jwt-secret-file\n"
         "(HS256) or --jwt-public-key (RS256) a signed token works as well: \"sub\" is\n"
         "the user, \"groups\" its groups, \"scope\" e.g. \"read write\", \"exp\" is\n"
         "required. --no-auth turns keys off,\n"
         "and is accepted only on a loopback address.\n\n"
         "Answers are extracted from the documents unless an LLM is given; each\n"
         "worker then holds its own connection to it, and falls back to extracting\n"
         "when it fails.\n" CLI_LLM_USAGE);
    return 0;
}

/* Splits "HOST:PORT", "[V6]:PORT" or ":PORT" into host and port. */
static int parse_listen(const char *v, char host[LISTEN_MAX + 1], uint16_t *port)
{
    const char *colon = strrchr(v, ':');
    if (!colon || strlen(v) > LISTEN_MAX) return 0;
    size_t hn = (size_t)(colon - v);
    const char *h = v;
    if (hn >= 2 && v[0] == '[' && v[hn - 1] == ']') h = v + 1, hn -= 2;
    memcpy(host, h, hn);
    host[hn] = '\0';
    if (!hn) strcpy(host, "0.0.0.0");
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || p < 0 || p > 65535) return 0;
    *port = (uint16_t)p;
    return 1;
}

static int host_is_loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "localhost") == 0;
}

int cmd_serve(const rg_cli *cli, int argc, char **argv)
{
    rg_server_options so = rg_server_default_options();
    char host[LISTEN_MAX + 1] = "127.0.0.1";
    serve_app app = {.cli = cli, .llm = cli_llm_defaults(), .save_interval = SERVE_SAVE_SECONDS};
    int no_auth = 0, rc;
    const char *jwt_secret = NULL, *jwt_public = NULL, *jwt_iss = "", *jwt_aud = "";
    for (int i = 1; i < argc; i++) {
        const char *v;
        size_t n;
        if (strcmp(argv[i], "--help") == 0) return serve_usage();
        if ((rc = cli_llm_opt(argc, argv, &i, &app.llm))) {
            if (rc < 0) return 2;
        } else if ((rc = cli_opt(argc, argv, &i, "--listen", &v))) {
            if (rc < 0) return 2;
            if (!parse_listen(v, host, &so.port))
                return cli_fail("--listen takes HOST:PORT, not '%s'", v), 2;
        } else if ((rc = cli_opt(argc, argv, &i, "--workers", &v))) {
            if (rc < 0 || !cli_size("--workers", v, 1, RG_SERVER_WORKERS_MAX, &n)) return 2;
            so.workers = (int)n;
        } else if ((rc = cli_opt(argc, argv, &i, "--io-threads", &v))) {
            if (rc < 0 || !cli_size("--io-threads", v, 1, 64, &n)) return 2;
            so.io_threads = (int)n;
        } else if ((rc = cli_opt(argc, argv, &i, "--max-body", &v))) {
            if (rc < 0 || !cli_size("--max-body", v, 1024, (size_t)1 << 30, &so.max_body)) return 2;
        } else if ((rc = cli_opt(argc, argv, &i, "--timeout", &v))) {
            if (rc < 0 || !cli_size("--timeout", v, 1, 3600, &n)) return 2;
            so.request_timeout_ms = (long)n * 1000;
        } else if ((rc = cli_opt(argc, argv, &i, "--save-interval", &v))) {
            if (rc < 0 || !cli_size("--save-interval", v, 0, 86400, &n)) return 2;
            app.save_interval = (double)n;
        } else if ((rc = cli_opt(argc, argv, &i, "--model", &v))) {
            if (rc < 0) return 2;
            app.model = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--sync-root", &v))) {
            if (rc < 0) return 2;
            if (app.n_sync_roots == SERVE_SYNC_ROOTS_MAX)
                return cli_fail("at most %d --sync-root options", SERVE_SYNC_ROOTS_MAX), 2;
            if (!realpath(v, app.sync_roots[app.n_sync_roots]))
                return cli_fail("--sync-root %s: %s", v, strerror(errno)), 2;
            app.n_sync_roots++;
        } else if ((rc = cli_opt(argc, argv, &i, "--jwt-secret-file", &v))) {
            if (rc < 0) return 2;
            jwt_secret = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--jwt-public-key", &v))) {
            if (rc < 0) return 2;
            jwt_public = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--jwt-issuer", &v))) {
            if (rc < 0 || strlen(v) > SERVE_JWT_NAME_MAX)
                return rc < 0 ? 2 : (cli_fail("--jwt-issuer is too long"), 2);
            jwt_iss = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--jwt-audience", &v))) {
            if (rc < 0 || strlen(v) > SERVE_JWT_NAME_MAX)
                return rc < 0 ? 2 : (cli_fail("--jwt-audience is too long"), 2);
            jwt_aud = v;
        } else if (strcmp(argv[i], "--pii-mask") == 0) {
            app.pii_types = RG_PII_ALL;
        } else if (strcmp(argv[i], "--no-auth") == 0) {
            no_auth = 1;
        } else if (strcmp(argv[i], "--quiet-requests") == 0) {
            so.log_requests = 0;
        } else {
            cli_fail("unknown argument '%s' for serve", argv[i]);
            return 2;
        }
    }
    if (!cli_llm_check(&app.llm)) return 2;
    rg_error err;
    rg_error_clear(&err);
    if (jwt_secret || jwt_public) {
        if (no_auth) return cli_fail("--no-auth and JWT options contradict each other"), 2;
        if (serve_jwt_load(&app.jwt, jwt_secret, jwt_public, &err)) return cli_fail_err(&err), 2;
        snprintf(app.jwt.issuer, sizeof app.jwt.issuer, "%s", jwt_iss);
        snprintf(app.jwt.audience, sizeof app.jwt.audience, "%s", jwt_aud);
    } else if (jwt_iss[0] || jwt_aud[0]) {
        return cli_fail("--jwt-issuer and --jwt-audience need --jwt-secret-file or "
                        "--jwt-public-key"),
               2;
    }
    if (no_auth && !host_is_loopback(host))
        return cli_fail("--no-auth is accepted only on a loopback address, not '%s'", host), 2;
    so.host = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;

    /* Every thread inherits this mask; only sigwait below sees the signals. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (so.workers <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        so.workers = c > 0 ? (int)c : 1;
    }
    app.workers = so.workers;
    app.auth = !no_auth;
    pthread_mutex_init(&app.write_mu, NULL);
    so.routes = serve_routes;
    so.n_routes = serve_n_routes;
    so.app = &app;
    so.worker_open = serve_worker_open;
    so.worker_close = serve_worker_close;
    so.worker_idle = serve_worker_idle;
    rg_server *srv;
    if (rg_server_start(&so, &srv, &err)) {
        pthread_mutex_destroy(&app.write_mu);
        serve_jwt_free(&app.jwt);
        return cli_fail_err(&err);
    }
    int v6 = strchr(so.host, ':') != NULL;
    fprintf(stderr,
            "{\"level\":\"info\",\"event\":\"listening\",\"url\":\"http://%s%s%s:%u\","
            "\"workers\":%d,\"auth\":%s}\n",
            v6 ? "[" : "", so.host, v6 ? "]" : "", (unsigned)rg_server_port(srv), so.workers,
            app.auth ? "true" : "false");
    fflush(stderr);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "{\"level\":\"info\",\"event\":\"stopping\",\"signal\":\"%s\"}\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT");
    fflush(stderr);
    rg_server_stop(srv);
    pthread_mutex_destroy(&app.write_mu);
    serve_jwt_free(&app.jwt);
    fprintf(stderr, "{\"level\":\"info\",\"event\":\"stopped\"}\n");
    return 0;
}
