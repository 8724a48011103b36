/*
 * fuzz_llm_stream.c — the LLM clients end to end (engine/rag/gen_openai.c,
 * gen_ollama.c): what they make of whatever a server answers.
 *
 * A thread of this process serves HTTP on a loopback port and answers each
 * request with the fuzz input's body; the generator under test posts its
 * prompt there, so its transport (rg_llm_post, libcurl), its stream parser
 * (SSE or NDJSON, sse.h) and its reading of each event's JSON all run.
 * The first byte picks the client (OpenAI-compatible or Ollama), streamed
 * or whole, the HTTP status (mostly 200; 400, 429, 500 test the error-body
 * reader) and after how many pieces the caller cancels (never, 1, 2). No
 * retries, so an error status costs no back-off.
 *
 * Checked, from generator.h's contract: the pieces passed to on_token,
 * concatenated, equal what was appended to out, whatever the outcome; a
 * cancelled generation returns RG_OK with finish = RG_FINISH_CANCELLED.
 */
#include "fuzz.h"

#include <netinet/in.h>
#include <pthread.h>
#include <strings.h>
#include <sys/socket.h>

#include "engine/base/buf.h"
#include "engine/rag/gen_ollama.h"
#include "engine/rag/gen_openai.h"

/* What the server answers next. The server copies it, under mu, when it
 * accepts a connection; the main thread sets it before each generation and
 * clears it after, so a late connection never reads a freed input. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static const uint8_t *reply_body;
static size_t reply_len;
static unsigned reply_status;
static const char *reply_type;
static int listen_fd;
static char base_url[64];
static rg_generator gens[4];

static void send_all(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
        if (k <= 0) return; /* the client hung up early: fine */
        s += k, n -= (size_t)k;
    }
}

/* Reads one request (headers, then Content-Length bytes of body) and discards it. */
static void read_request(int fd)
{
    char buf[8192];
    size_t have = 0, want = (size_t)-1;
    for (;;) {
        ssize_t k = recv(fd, buf + have, sizeof buf - 1 - have, 0);
        if (k <= 0) return;
        have += (size_t)k;
        buf[have] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end && want == (size_t)-1) {
            size_t body = 0;
            for (char *h = buf; h && h < end; h = strstr(h, "\r\n"), h = h ? h + 2 : NULL)
                if (!strncasecmp(h, "Content-Length:", 15)) body = strtoul(h + 15, NULL, 10);
            want = (size_t)(end + 4 - buf) + body;
        }
        if (want != (size_t)-1 && have >= want) return;
        if (have >= sizeof buf - 1) { /* a body larger than the buffer: drop what was read */
            if (want != (size_t)-1) want -= have;
            have = 0;
        }
    }
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0) continue;
        pthread_mutex_lock(&mu);
        size_t len = reply_body ? reply_len : 0;
        char *body = malloc(len + 1);
        if (body && len) memcpy(body, reply_body, len);
        char head[256];
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 %u X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                         "Connection: close\r\n\r\n",
                         reply_status, reply_type ? reply_type : "text/plain", len);
        pthread_mutex_unlock(&mu);
        if (!body) abort();
        read_request(fd);
        send_all(fd, head, (size_t)n);
        send_all(fd, body, len);
        free(body);
        shutdown(fd, SHUT_WR);
        close(fd);
    }
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    pthread_t t;
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof a) ||
        listen(listen_fd, 16) || getsockname(listen_fd, (struct sockaddr *)&a, &al) ||
        pthread_create(&t, NULL, serve, NULL)) {
        perror("fuzz_llm_stream: loopback server");
        abort();
    }
    snprintf(base_url, sizeof base_url, "http://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
    for (int i = 0; i < 4; i++) { /* [ollama * 2 + stream] */
        rg_llm_options o = rg_llm_default_options();
        o.base_url = base_url;
        o.model = "fuzz";
        o.api_key = "";
        o.stream = i & 1;
        o.allow = RG_HTTP_ALLOW_ANY;
        o.max_retries = 0;
        o.connect_timeout_ms = 2000;
        o.timeout_ms = 5000;
        rg_error err;
        if ((i & 2 ? rg_ollama_open : rg_openai_open)(&o, &gens[i], &err) != RG_OK) {
            fprintf(stderr, "fuzz_llm_stream: %s\n", rg_error_message(&err));
            abort();
        }
    }
    return 0;
}

typedef struct pieces {
    rg_buf all;
    size_t count;
    size_t cancel_after; /* 0: never */
} pieces;

static int on_piece(void *ctx, const char *piece, size_t n)
{
    pieces *p = ctx;
    FUZZ_CHECK(n > 0);
    FUZZ_CHECK(rg_buf_append(&p->all, piece, n) == RG_OK);
    return p->cancel_after && ++p->count >= p->cancel_after;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = fuzz_in_make(data, size);
    uint8_t sel = fuzz_byte(&in);
    int ollama = sel & 1, stream = !(sel & 2);
    static const unsigned statuses[8] = {200, 200, 200, 200, 200, 400, 429, 500};
    pthread_mutex_lock(&mu);
    reply_status = statuses[(sel >> 2) & 7];
    reply_type = !stream  ? "application/json"
                 : ollama ? "application/x-ndjson"
                          : "text/event-stream";
    reply_body = in.p, reply_len = in.n;
    pthread_mutex_unlock(&mu);

    rg_generator *g = &gens[ollama * 2 + stream];
    rg_error err;
    rg_error_clear(&err);
    rg_prompt prompt = {.system = "Answer from the sources.", .user = "What is ragd? [1] ragd"};
    pieces p = {.cancel_after = (sel >> 5) % 3};
    rg_buf_init(&p.all, RG_LLM_MAX_RESPONSE);
    rg_gen_request req = {
        .question = "What is ragd?", .prompt = &prompt, .on_token = on_piece, .token_ctx = &p};
    rg_buf out;
    rg_buf_init(&out, RG_LLM_MAX_RESPONSE);
    rg_gen_result res;
    rg_status st = rg_generate(g, &req, &out, &res, &err);
    pthread_mutex_lock(&mu);
    reply_body = NULL, reply_len = 0;
    pthread_mutex_unlock(&mu);
    FUZZ_CHECK(out.len == p.all.len && (!out.len || !memcmp(out.data, p.all.data, out.len)));
    if (p.cancel_after && p.count >= p.cancel_after)
        FUZZ_CHECK(st == RG_OK && res.finish == RG_FINISH_CANCELLED);
    if (st != RG_OK) FUZZ_CHECK(rg_error_message(&err)[0]);
    rg_buf_free(&out);
    rg_buf_free(&p.all);
    return 0;
}
