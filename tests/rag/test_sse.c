/*
 * test_sse.c — the SSE and NDJSON stream parsers (engine/rag/sse.c): every
 * edge case is fed whole, byte by byte and in random splits, and must give
 * the same events.
 */
#include <stdlib.h>

#include "engine/base/buf.h"
#include "engine/base/mem.h"
#include "engine/rag/sse.h"
#include "tests/test.h"

/* Events are recorded as "name=data|" so a whole stream compares as one string. */
static rg_status record(void *ctx, const rg_sse_event *ev, rg_error *err)
{
    (void)err;
    rg_buf *b = ctx;
    if (ev->done) return rg_buf_puts(b, "DONE|");
    rg_buf_puts(b, ev->event);
    rg_buf_putc(b, '=');
    rg_buf_append(b, ev->data, ev->data_len);
    return rg_buf_putc(b, '|');
}

/* Feeds s in pieces: split 0 whole, 1 byte by byte, else random pieces of 1..split. */
static rg_status feed_sse(const char *s, size_t n, size_t split, unsigned seed, rg_buf *got,
                          size_t max_line, size_t max_event)
{
    rg_sse *p;
    rg_error err;
    rg_status st = rg_sse_new(max_line, max_event, record, got, &p, &err);
    if (st) return st;
    srand(seed);
    for (size_t i = 0; i < n && !st;) {
        size_t k = split == 0 ? n : split == 1 ? 1 : 1 + (size_t)rand() % split;
        if (k > n - i) k = n - i;
        st = rg_sse_feed(p, s + i, k, &err);
        i += k;
    }
    rg_sse_free(p);
    return st;
}

/* Every split of s gives want. */
static void expect_sse(const char *s, const char *want)
{
    size_t splits[] = {0, 1, 2, 3, 7};
    for (size_t k = 0; k < sizeof splits / sizeof splits[0]; k++) {
        for (unsigned seed = 1; seed <= (splits[k] > 1 ? 20u : 1u); seed++) {
            rg_buf got;
            rg_buf_init(&got, 1 << 20);
            CHECK_INT(feed_sse(s, strlen(s), splits[k], seed, &got, 0, 0), RG_OK);
            CHECK_STR(rg_buf_str(&got), want);
            rg_buf_free(&got);
        }
    }
}

static void test_line_ends(void)
{
    expect_sse("data: a\n\ndata: b\r\n\r\ndata: c\r\rdata: d\n\r\n",
               "message=a|message=b|message=c|message=d|");
    /* CR then LF split across pieces is one line end, not an empty line between */
    expect_sse("data: x\r\ndata: y\r\n\r\n", "message=x\ny|");
}

static void test_fields(void)
{
    expect_sse("data:nospace\n\n", "message=nospace|");
    expect_sse("data:  two\n\n", "message= two|");
    expect_sse("data: one\ndata: two\ndata\n\n", "message=one\ntwo\n|");
    expect_sse("data:\n\n", "message=|");
    expect_sse("event: error\ndata: {\"e\":1}\n\ndata: after\n\n",
               "error={\"e\":1}|message=after|");
    expect_sse("id: 7\nretry: 100\nbogus: z\nno colon line\ndata: kept\n\n", "message=kept|");
    /* an event without data is not dispatched, and its name does not leak into the next */
    expect_sse("event: ping\n\ndata: q\n\n", "message=q|");
}

static void test_comments_and_done(void)
{
    expect_sse(": keep-alive\n\n:\ndata: t\n\n: ping\n\ndata: [DONE]\n\n", "message=t|DONE|");
    expect_sse("data: [DONE] \n\n", "message=[DONE] |");
    rg_buf got;
    rg_buf_init(&got, 1024);
    rg_sse *p;
    REQUIRE(rg_sse_new(0, 0, record, &got, &p, NULL) == RG_OK);
    const char *s = ": a\n: b\r\n";
    CHECK_INT(rg_sse_feed(p, s, strlen(s), NULL), RG_OK);
    CHECK_INT(rg_sse_comments(p), 2);
    CHECK_INT(got.len, 0);
    rg_sse_free(p);
    rg_buf_free(&got);
}

static void test_bom_and_unfinished(void)
{
    expect_sse("\xef\xbb\xbf"
               "data: b\n\n",
               "message=b|");
    /* bytes that only start like a BOM are text */
    expect_sse("\xef"
               "data: b\n\ndata: c\n\n",
               "message=c|");
    /* the last event, cut before its empty line, is not dispatched */
    expect_sse("data: whole\n\ndata: cut", "message=whole|");
}

static void test_limits(void)
{
    rg_buf got;
    rg_buf_init(&got, 1024);
    char line[64];
    memset(line, 'x', sizeof line);
    /* a line longer than its maximum fails however it is split */
    for (size_t split = 0; split < 4; split++) {
        rg_buf_reset(&got);
        CHECK_INT(feed_sse(line, sizeof line, split, 3, &got, 32, 0), RG_ELIMIT);
    }
    const char *many = "data: 0123456789\ndata: 0123456789\ndata: 0123456789\n\n";
    CHECK_INT(feed_sse(many, strlen(many), 1, 1, &got, 0, 24), RG_ELIMIT);
    CHECK_INT(feed_sse(many, strlen(many), 1, 1, &got, 0, 64), RG_OK);
    char name[RG_SSE_EVENT_NAME_MAX + 16] = "event: ";
    memset(name + 7, 'n', RG_SSE_EVENT_NAME_MAX + 1);
    name[7 + RG_SSE_EVENT_NAME_MAX + 1] = '\n';
    CHECK_INT(feed_sse(name, strlen(name), 0, 1, &got, 0, 0), RG_ELIMIT);
    rg_buf_free(&got);
}

static rg_status stop_at_second(void *ctx, const rg_sse_event *ev, rg_error *err)
{
    int *n = ctx;
    (void)ev;
    return ++*n == 2 ? rg_fail(err, RG_EPARSE, "stop") : RG_OK;
}

static void test_callback_stops_and_reset(void)
{
    int n = 0;
    rg_sse *p;
    rg_error err;
    REQUIRE(rg_sse_new(0, 0, stop_at_second, &n, &p, NULL) == RG_OK);
    const char *s = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
    CHECK_INT(rg_sse_feed(p, s, strlen(s), &err), RG_EPARSE);
    CHECK_INT(n, 2);
    rg_sse_reset(p);
    n = 5;
    CHECK_INT(rg_sse_feed(p, "data: half", 10, &err), RG_OK);
    rg_sse_reset(p); /* a retried request starts a new stream */
    CHECK_INT(rg_sse_feed(p, "data: 4\n\n", 9, &err), RG_OK);
    CHECK_INT(n, 6);
    rg_sse_free(p);
}

static rg_status record_line(void *ctx, const char *line, size_t n, rg_error *err)
{
    (void)err;
    rg_buf *b = ctx;
    rg_buf_append(b, line, n);
    return rg_buf_putc(b, '|');
}

static void expect_ndjson(const char *s, const char *want, rg_status want_st, size_t max_line)
{
    for (size_t split = 0; split < 6; split++) {
        for (unsigned seed = 1; seed <= 10; seed++) {
            rg_buf got;
            rg_buf_init(&got, 1 << 20);
            rg_ndjson *p;
            rg_error err;
            rg_status st = rg_ndjson_new(max_line, record_line, &got, &p, NULL);
            REQUIRE(st == RG_OK);
            srand(seed);
            size_t n = strlen(s);
            for (size_t i = 0; i < n && !st;) {
                size_t k = split == 0 ? n : split == 1 ? 1 : 1 + (size_t)rand() % split;
                if (k > n - i) k = n - i;
                st = rg_ndjson_feed(p, s + i, k, &err);
                i += k;
            }
            if (!st) st = rg_ndjson_finish(p, &err);
            CHECK_INT(st, want_st);
            if (!want_st) CHECK_STR(rg_buf_str(&got), want);
            rg_ndjson_free(p);
            rg_buf_free(&got);
        }
    }
}

static void test_ndjson(void)
{
    expect_ndjson("{\"a\":1}\n{\"b\":2}\n", "{\"a\":1}|{\"b\":2}|", RG_OK, 0);
    expect_ndjson("{\"a\":1}\r\n\r\n  \n{\"b\":2}", "{\"a\":1}|{\"b\":2}|", RG_OK, 0);
    expect_ndjson("", "", RG_OK, 0);
    expect_ndjson("0123456789abcdef\n", "", RG_ELIMIT, 8);
    expect_ndjson("01234567\n", "01234567|", RG_OK, 8);
}

TEST_MAIN(TEST(test_line_ends), TEST(test_fields), TEST(test_comments_and_done),
          TEST(test_bom_and_unfinished), TEST(test_limits), TEST(test_callback_stops_and_reset),
          TEST(test_ndjson))
