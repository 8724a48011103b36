/* test_citations.c — marker parsing, renumbering and support checks (engine/rag/citations.c). */
#include "engine/base/buf.h"
#include "engine/base/mem.h"
#include "engine/rag/citations.h"
#include "tests/test.h"

static rg_source src(const char *title, const char *text, int64_t chunk)
{
    return (rg_source){.doc_id = chunk * 10, .chunk_id = chunk, .byte_start = 0,
                       .byte_end = (int64_t)strlen(text), .title = title,
                       .source_uri = "/docs/x.md", .text = text, .text_len = strlen(text)};
}

static const char *vpn = "TunnelDeck uses UDP port 51820 to reach the gateway. It falls back to "
                         "TCP port 443 when UDP is blocked.";
static const char *lock = "Laptops lock the screen after 5 minutes of inactivity. Badges are "
                          "kept for 180 days.";
static const char *zh = "婚假共 8 天,需於結婚登記後三個月內請完。陪產假 7 天。";

static rg_status check(const char *text, const rg_source *s, size_t n, int remove, rg_answer *a)
{
    rg_cite_options o = rg_cite_default_options();
    o.remove_unsupported = remove;
    memset(a, 0, sizeof *a);
    return rg_citations_check(text, strlen(text), s, n, &o, a, NULL);
}

static void test_parse_all(void)
{
    const char *t = "a [1] b [2, 3] c [4-6] d 【7】 e ［８］ f [x] g [[9]]";
    rg_marker *m;
    size_t n;
    REQUIRE(rg_citations_parse(t, strlen(t), &m, &n, NULL) == RG_OK);
    REQUIRE(n == 6);
    CHECK_INT(m[1].n_nums, 2);
    CHECK_INT(m[2].n_nums, 3);
    CHECK_INT(m[3].nums[0], 7);
    CHECK_INT(m[4].nums[0], 8);
    CHECK_INT(m[5].nums[0], 9);
    rg_free(m);
}

static void test_renumber_and_drop(void)
{
    rg_source s[3] = {src("Lock", lock, 1), src("Other", "Nothing here.", 2), src("VPN", vpn, 3)};
    rg_answer a;
    REQUIRE(check("The VPN uses UDP port 51820 [3]. Screens lock after 5 minutes [1][9].", s, 3,
                  0, &a) == RG_OK);
    CHECK_STR(a.text, "The VPN uses UDP port 51820 [1]. Screens lock after 5 minutes [2].");
    REQUIRE(a.n_citations == 2);
    CHECK_INT(a.citations[0].chunk_id, 3);
    CHECK_INT(a.citations[0].source, 2);
    CHECK_INT(a.citations[1].chunk_id, 1);
    CHECK_STR(a.citations[0].title, "VPN");
    CHECK(strstr(vpn, a.citations[0].passage) != NULL);
    CHECK(strstr(a.citations[0].passage, "51820") != NULL);
    CHECK_INT(a.n_sentences, 2);
    CHECK(a.supported_share == 1.0);
    rg_answer_free(&a);
    /* a range and a list collapse to sorted new numbers */
    REQUIRE(check("UDP 51820, TCP 443 [2-3, 3].", s, 3, 0, &a) == RG_OK);
    CHECK_STR(a.text, "UDP 51820, TCP 443 [1, 2].");
    rg_answer_free(&a);
    /* a marker pointing at no source only: the sentence is uncited */
    REQUIRE(check("Port 51820 [7].", s, 3, 0, &a) == RG_OK);
    CHECK_STR(a.text, "Port 51820.");
    CHECK_INT(a.n_citations, 0);
    CHECK_INT(a.sentences[0].support, RG_UNCITED);
    rg_answer_free(&a);
    /* a sentence that is only such a marker, after a space: dropping the space before the
     * marker once reached before the sentence, whose span then ended before it began
     * (tests/fuzz: fuzz_citations, corpus/citations/regress-empty-sentence-span) */
    REQUIRE(check("Port 51820 [1].\n\n [7]\n\nMore.", s, 3, 0, &a) == RG_OK);
    REQUIRE(a.n_sentences == 3);
    for (size_t i = 0; i < a.n_sentences; i++)
        CHECK(a.sentences[i].span.start <= a.sentences[i].span.end &&
              a.sentences[i].span.end <= a.text_len);
    CHECK_STR(a.text, "Port 51820 [1].\n\n \n\nMore.");
    rg_answer_free(&a);
}

static void test_support_facts(void)
{
    rg_source s[2] = {src("Lock", lock, 1), src("VPN", vpn, 2)};
    rg_answer a;
    /* the right number, the wrong number, a number only in an uncited source */
    REQUIRE(check("Screens lock after 5 minutes [1]. Screens lock after 15 minutes [1]. "
                  "The VPN uses UDP port 51820 [1].",
                  s, 2, 0, &a) == RG_OK);
    REQUIRE(a.n_sentences == 3);
    CHECK_INT(a.sentences[0].support, RG_SUPPORTED);
    CHECK_INT(a.sentences[1].support, RG_UNSUPPORTED);
    CHECK_INT(a.sentences[2].support, RG_UNSUPPORTED);
    CHECK(a.supported_share > 0.33 && a.supported_share < 0.34);
    rg_answer_free(&a);
    /* quotes must occur verbatim; off-topic words fail the overlap */
    REQUIRE(check("It says \"falls back to TCP port 443\" [2]. It says \"falls over\" [2]. "
                  "Bananas grow quickly in tropical gardens [2].",
                  s, 2, 0, &a) == RG_OK);
    CHECK_INT(a.sentences[0].support, RG_SUPPORTED);
    CHECK_INT(a.sentences[1].support, RG_UNSUPPORTED);
    CHECK_INT(a.sentences[2].support, RG_UNSUPPORTED);
    rg_answer_free(&a);
    /* dates: every part must be there */
    rg_source d = src("Freeze", "The freeze runs from December 20 to January 3.", 5);
    REQUIRE(check("The freeze runs December 20 to January 3 [1]. It ends January 4 [1].", &d,
                  1, 0, &a) == RG_OK);
    CHECK_INT(a.sentences[0].support, RG_SUPPORTED);
    CHECK_INT(a.sentences[1].support, RG_UNSUPPORTED);
    rg_answer_free(&a);
}

static void test_support_chinese(void)
{
    rg_source s[1] = {src("請假", zh, 1)};
    rg_answer a;
    REQUIRE(check("婚假共 8 天【1】。婚假共 10 天【1】。結婚登記後三個月內請完[1]。", s, 1, 0, &a) ==
            RG_OK);
    REQUIRE(a.n_sentences == 3);
    CHECK_INT(a.sentences[0].support, RG_SUPPORTED);
    CHECK_INT(a.sentences[1].support, RG_UNSUPPORTED);
    CHECK_INT(a.sentences[2].support, RG_SUPPORTED);
    CHECK(strstr(a.text, "婚假共 8 天[1]") != NULL);
    rg_answer_free(&a);
    REQUIRE(check("員工餐廳提供免費午餐【1】。", s, 1, 0, &a) == RG_OK);
    CHECK_INT(a.sentences[0].support, RG_UNSUPPORTED);
    rg_answer_free(&a);
}

static void test_remove_unsupported(void)
{
    rg_source s[2] = {src("Lock", lock, 1), src("VPN", vpn, 2)};
    rg_answer a;
    REQUIRE(check("Screens lock after 15 minutes [1]. The VPN uses UDP port 51820 [2]. "
                  "Some claim with no source.",
                  s, 2, 1, &a) == RG_OK);
    CHECK_STR(a.text, "The VPN uses UDP port 51820 [1].");
    CHECK_INT(a.removed, 2);
    REQUIRE(a.n_citations == 1);
    CHECK_INT(a.citations[0].chunk_id, 2); /* renumbered after removal: no gap */
    rg_answer_free(&a);
}

static void test_json(void)
{
    rg_source s[1] = {src("VPN", vpn, 2)};
    rg_answer a;
    REQUIRE(check("UDP port 51820 [1].", s, 1, 0, &a) == RG_OK);
    cJSON *j = NULL;
    REQUIRE(rg_answer_to_json(&a, &j, NULL) == RG_OK);
    CHECK_STR(cJSON_GetObjectItem(j, "answer")->valuestring, "UDP port 51820 [1].");
    cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "citations"), 0);
    CHECK_INT(cJSON_GetObjectItem(c, "chunk_id")->valuedouble, 2);
    CHECK_INT(cJSON_GetObjectItem(c, "document_id")->valuedouble, 20);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "ai_generated")));
    cJSON_Delete(j);
    rg_answer_free(&a);
}

static void test_repeated_markers(void)
{
    /* A long sentence naming its source thousands of times (a hostile or
     * looping generator): its words back the passage choice once, not once
     * per marker, so the check neither slows down with the repeats nor runs
     * out of term room (RG_TERMS_MAX) and fails. */
    rg_source s[2] = {src("Lock", lock, 1), src("VPN", vpn, 2)};
    rg_buf t;
    rg_buf_init(&t, 1u << 20);
    for (int i = 0; i < 1000; i++)
        REQUIRE(rg_buf_append(&t, "TunnelDeck UDP port 51820 ", 26) == RG_OK);
    for (int i = 0; i < 4000; i++)
        REQUIRE(rg_buf_append(&t, "[2]", 3) == RG_OK);
    REQUIRE(rg_buf_putc(&t, '.') == RG_OK);
    rg_answer a;
    REQUIRE(check(t.data, s, 2, 0, &a) == RG_OK);
    REQUIRE(a.n_citations == 1);
    CHECK_INT(a.citations[0].chunk_id, 2);
    CHECK(strstr(a.citations[0].passage, "51820") != NULL);
    CHECK_INT(a.n_sentences, 1);
    rg_answer_free(&a);
    rg_buf_free(&t);
}

static void test_alloc_failures(void)
{
    rg_source s[2] = {src("Lock", lock, 1), src("VPN", vpn, 2)};
    for (unsigned long n = 1; n < 400; n++) {
        rg_answer a;
        rg_mem_fail_at(n, 1);
        rg_status st = check("Screens lock after 5 minutes [2, 1]. UDP 51820 [2].", s, 2, 0, &a);
        rg_mem_fail_at(0, 0);
        if (st == RG_OK) {
            CHECK(a.n_citations == 2);
            rg_answer_free(&a);
            break;
        }
        CHECK_INT(st, RG_ENOMEM);
        CHECK(a.text == NULL && a.citations == NULL);
    }
}

TEST_MAIN(TEST(test_parse_all), TEST(test_renumber_and_drop), TEST(test_support_facts),
          TEST(test_support_chinese), TEST(test_remove_unsupported), TEST(test_json),
          TEST(test_repeated_markers), TEST(test_alloc_failures))
