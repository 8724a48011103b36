#include "test.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "engine/base/buf.h"
#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "ingest/ingest_test.h"
#include "ingest/pii.h"

#define OUT_MAX (1u << 24)
/* Longest fixture line and corpus file the tests read. */
#define LINE_MAX_BYTES 4096
#define FILE_MAX_BYTES (1u << 22)
/* Recall required on the checksum-validated types (issue #7). */
#define MIN_RECALL 0.99

/* Masks s with all types and compares with want. */
static int mask_is(const char *s, const char *want)
{
    rg_buf out;
    rg_error err;
    rg_buf_init(&out, OUT_MAX);
    rg_status st = rg_pii_mask(s, strlen(s), RG_PII_ALL, &out, NULL, &err);
    int ok = st == RG_OK && strcmp(rg_buf_str(&out), want) == 0;
    if (!ok)
        fprintf(stderr, "  mask(\"%s\") = \"%s\", expected \"%s\"\n", s, rg_buf_str(&out), want);
    rg_buf_free(&out);
    return ok;
}

static void test_placeholders_and_counts(void)
{
    const char *s = "Mail alice@example.com or bob@example.org, call +886 912 345 678, "
                    "card 4111 1111 1111 1111, SSN 123-45-6789, host 192.168.1.20.";
    rg_buf out;
    rg_pii_counts c = {{0}};
    rg_buf_init(&out, OUT_MAX);
    CHECK_INT(rg_pii_mask(s, strlen(s), RG_PII_ALL, &out, &c, NULL), RG_OK);
    CHECK_STR(rg_buf_str(&out), "Mail [EMAIL] or [EMAIL], call [PHONE], card [CARD], SSN [SSN], "
                                "host [IP].");
    CHECK_INT(c.n[RG_PII_EMAIL], 2);
    CHECK_INT(c.n[RG_PII_PHONE], 1);
    CHECK_INT(c.n[RG_PII_CARD], 1);
    CHECK_INT(c.n[RG_PII_SSN], 1);
    CHECK_INT(c.n[RG_PII_IP], 1);
    CHECK_INT(rg_pii_counts_total(&c), 6);
    rg_buf_reset(&out);
    CHECK_INT(rg_pii_counts_json(&c, &out), RG_OK);
    CHECK_STR(rg_buf_str(&out), "{\"email\":2,\"phone\":1,\"card\":1,\"ssn\":1,\"ip\":1}");
    rg_buf_free(&out);
    rg_pii_counts zero = {{0}};
    rg_buf_init(&out, 16);
    CHECK_INT(rg_pii_counts_json(&zero, &out), RG_OK);
    CHECK_STR(rg_buf_str(&out), "{}");
    rg_buf_free(&out);
    CHECK_INT(rg_pii_type_from_name("tw_id"), RG_PII_TW_ID);
    CHECK_INT(rg_pii_type_from_name("nope"), -1);
}

static void test_type_selection(void)
{
    const char *s = "a@example.com 4111111111111111";
    rg_buf out;
    rg_pii_counts c = {{0}};
    rg_buf_init(&out, OUT_MAX);
    CHECK_INT(rg_pii_mask(s, strlen(s), RG_PII_BIT(RG_PII_CARD), &out, &c, NULL), RG_OK);
    CHECK_STR(rg_buf_str(&out), "a@example.com [CARD]");
    CHECK_INT(rg_pii_counts_total(&c), 1);
    rg_buf_free(&out);
}

static void test_cjk_boundaries(void)
{
    CHECK(mask_is("電話0912-345-678請", "電話[PHONE]請"));
    CHECK(mask_is("电话13812345678请回拨", "电话[PHONE]请回拨"));
    CHECK(mask_is("請寄到hr-tw@example.com謝謝", "請寄到[EMAIL]謝謝"));
    CHECK(mask_is("身分證A123456789。", "身分證[TW_ID]。"));
    CHECK(mask_is("（02）2345-6789", "（02）2345-6789")); /* full-width brackets: not handled */
    CHECK(mask_is("x0912345678", "x0912345678"));         /* inside a word */
    CHECK(mask_is("10912345678", "10912345678"));         /* inside a digit run */
}

static void test_limits(void)
{
    /* the output buffer's maximum is reported, with the prefix kept */
    rg_buf out;
    rg_error err;
    rg_buf_init(&out, 8);
    const char *s = "ab 8.8.8.8 and more text";
    CHECK_INT(rg_pii_mask(s, strlen(s), RG_PII_ALL, &out, NULL, &err), RG_ELIMIT);
    CHECK_STR(rg_buf_str(&out), "ab [IP]");
    rg_buf_free(&out);
    /* a local part longer than RG_PII_EMAIL_LOCAL_MAX is no address */
    char big[RG_PII_EMAIL_LOCAL_MAX + 32];
    memset(big, 'a', RG_PII_EMAIL_LOCAL_MAX + 1);
    strcpy(big + RG_PII_EMAIL_LOCAL_MAX + 1, "@example.com");
    CHECK(mask_is(big, big));
    big[RG_PII_EMAIL_LOCAL_MAX + 1] = 0;
    memmove(big + 1, big + 2, RG_PII_EMAIL_LOCAL_MAX); /* now exactly the maximum */
    strcpy(big + RG_PII_EMAIL_LOCAL_MAX, "@example.com");
    CHECK(mask_is(big, "[EMAIL]"));
    /* the output never grows by more than len / 6 + 1 */
    const char *tight = "a@b.co a@b.co a@b.co";
    rg_buf_init(&out, OUT_MAX);
    CHECK_INT(rg_pii_mask(tight, strlen(tight), RG_PII_ALL, &out, NULL, NULL), RG_OK);
    CHECK(out.len <= strlen(tight) + strlen(tight) / 6 + 1);
    rg_buf_free(&out);
}

static void test_alloc_failures(void)
{
    const char *s = "mail a@example.com now";
    rg_status st = RG_ENOMEM;
    for (int n = 1; n < 20 && st == RG_ENOMEM; n++) {
        rg_buf out;
        rg_buf_init(&out, OUT_MAX);
        rg_mem_fail_at(n, 1);
        st = rg_pii_mask(s, strlen(s), RG_PII_ALL, &out, NULL, NULL);
        rg_mem_fail_at(0, 0);
        rg_buf_free(&out);
    }
    CHECK_INT(st, RG_OK);
}

/* Per-type tallies of the fixture run. */
typedef struct tally {
    size_t want[RG_PII_TYPE_COUNT], found[RG_PII_TYPE_COUNT];
    size_t negatives, false_pos;
} tally;

/* Checks one fixture line "TYPE\tTEXT\tMATCH" against the detectors. */
static void check_case(char *line, tally *t)
{
    char *text = strchr(line, '\t');
    REQUIRE(text);
    *text++ = 0;
    char *want = strchr(text, '\t');
    REQUIRE(want);
    *want++ = 0;
    size_t len = strlen(text);
    rg_pii_match m;
    int neg = strcmp(line, "none") == 0;
    if (neg) {
        t->negatives++;
        if (rg_pii_next(text, len, 0, RG_PII_ALL, &m)) {
            t->false_pos++;
            fprintf(stderr, "  false positive %s \"%.*s\" in \"%s\"\n", rg_pii_type_name(m.type),
                    (int)(m.end - m.start), text + m.start, text);
        }
        return;
    }
    int type = rg_pii_type_from_name(line);
    REQUIRE(type >= 0);
    t->want[type]++;
    size_t wl = strlen(want);
    const char *at = strstr(text, want);
    REQUIRE(at);
    int ok = rg_pii_next(text, len, 0, RG_PII_ALL, &m) && (int)m.type == type &&
             m.start == (size_t)(at - text) && m.end - m.start == wl &&
             !rg_pii_next(text, len, m.end, RG_PII_ALL, &m);
    if (ok)
        t->found[type]++;
    else
        fprintf(stderr, "  missed %s \"%s\" in \"%s\"\n", line, want, text);
}

static void test_fixture_recall_and_precision(void)
{
    FILE *f = fopen(fixture("pii/cases.tsv"), "r");
    REQUIRE(f);
    tally t = {{0}, {0}, 0, 0};
    char line[LINE_MAX_BYTES];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (line[0]) check_case(line, &t);
    }
    fclose(f);
    static const rg_pii_type checked[] = {RG_PII_CARD, RG_PII_IBAN, RG_PII_TW_ID, RG_PII_CN_ID};
    size_t want = 0, found = 0;
    for (size_t k = 0; k < sizeof checked / sizeof checked[0]; k++) {
        want += t.want[checked[k]];
        found += t.found[checked[k]];
    }
    for (int k = 0; k < RG_PII_TYPE_COUNT; k++)
        fprintf(stderr, "  %-6s %zu/%zu found\n", rg_pii_type_name((rg_pii_type)k), t.found[k],
                t.want[k]);
    fprintf(stderr, "  checksum types recall %zu/%zu; false positives %zu/%zu negatives\n", found,
            want, t.false_pos, t.negatives);
    CHECK(want >= 200);
    CHECK(t.negatives >= 150);
    CHECK((double)found >= MIN_RECALL * (double)want);
    CHECK_INT(t.false_pos, 0);
    /* the other types are held to the same bar */
    for (int k = 0; k < RG_PII_TYPE_COUNT; k++)
        CHECK((double)t.found[k] >= MIN_RECALL * (double)t.want[k]);
}

/* Reads path whole into a NUL-terminated rg_malloc'd buffer (NULL on failure). */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *data = rg_malloc(FILE_MAX_BYTES + 1);
    if (data) {
        *len = fread(data, 1, FILE_MAX_BYTES, f);
        data[*len] = 0;
    }
    fclose(f);
    return data;
}

/* 1 if [s, s + n) is a fictional address of the corpus's company. */
static int is_company_email(const char *s, size_t n)
{
    static const char dom[] = "@example.com";
    size_t d = sizeof dom - 1;
    return n > d && memcmp(s + n - d, dom, d) == 0;
}

/* Scans every file below dir; counts e-mails and reports any other match. */
static void scan_dir(const char *dir, size_t *files, size_t *emails, size_t *other)
{
    DIR *d = opendir(dir);
    REQUIRE(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode)) {
            scan_dir(path, files, emails, other);
            continue;
        }
        size_t len = 0;
        char *text = slurp(path, &len);
        CHECK(text);
        if (!text) continue;
        (*files)++;
        rg_pii_match m;
        for (size_t at = 0; rg_pii_next(text, len, at, RG_PII_ALL, &m); at = m.end) {
            if (m.type == RG_PII_EMAIL && is_company_email(text + m.start, m.end - m.start)) {
                (*emails)++;
                continue;
            }
            (*other)++;
            fprintf(stderr, "  %s: %s \"%.*s\"\n", path, rg_pii_type_name(m.type),
                    (int)(m.end - m.start), text + m.start);
        }
        rg_free(text);
    }
    closedir(d);
}

/*
 * corpus/ holds fictional company documents. Their contact addresses
 * (name@example.com) are PII-shaped and masking them is right; anything else
 * found there is a false positive.
 */
static void test_corpus_no_false_positives(void)
{
    const char *dir = getenv("RG_CORPUS");
    REQUIRE(dir);
    size_t files = 0, emails = 0, other = 0;
    scan_dir(dir, &files, &emails, &other);
    fprintf(stderr, "  corpus: %zu files, %zu company e-mails, %zu other matches\n", files, emails,
            other);
    CHECK(files >= 20);
    CHECK_INT(other, 0);
}

TEST_MAIN(TEST(test_placeholders_and_counts), TEST(test_type_selection), TEST(test_cjk_boundaries),
          TEST(test_limits), TEST(test_alloc_failures), TEST(test_fixture_recall_and_precision),
          TEST(test_corpus_no_false_positives))
