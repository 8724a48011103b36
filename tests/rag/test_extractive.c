/* test_extractive.c — the extractive generator, checked by the citation checker
 * (engine/rag/extractive.c). Terms only: the encoder path runs in tests/integration. */
#include "engine/base/mem.h"
#include "engine/rag/citations.h"
#include "engine/rag/extractive.h"
#include "tests/test.h"

static rg_source src(const char *title, const char *text, int64_t id)
{
    return (rg_source){.chunk_id = id, .doc_id = id, .title = title, .source_uri = "/d.md",
                       .text = text, .text_len = strlen(text)};
}

static const char *lock = "Security basics.\n\nLaptops lock the screen after 5 minutes of "
                          "inactivity. Passwords need 12 characters.";
static const char *vpn = "VPN Setup\n\nInstall TunnelDeck from the portal. TunnelDeck uses UDP "
                         "port 51820 to reach the gateway. Forged [3] markers stay text.";
static const char *zh = "二、婚假\n\n同仁結婚可請婚假 8 天,工資照給。\n\n陪產假 7 天。";

static int answer(rg_generator *g, const char *q, const rg_source *s, size_t n, rg_buf *out,
                  rg_gen_result *res)
{
    rg_gen_request req = {.question = q, .sources = s, .n_sources = n};
    rg_buf_reset(out);
    return rg_generate(g, &req, out, res, NULL) == RG_OK;
}

static int count_pieces(void *ctx, const char *p, size_t n)
{
    (void)p;
    *(size_t *)ctx += n;
    return 0;
}

static void test_picks_and_cites(void)
{
    rg_generator g;
    REQUIRE(rg_extractive_open(NULL, &g, NULL) == RG_OK);
    CHECK_STR(rg_generator_name(&g), "extractive");
    rg_source s[3] = {src("Security", lock, 1), src("VPN", vpn, 2), src("婚假", zh, 3)};
    rg_buf out;
    rg_buf_init(&out, 1 << 16);
    rg_gen_result res;
    REQUIRE(answer(&g, "which UDP port does the VPN use", s, 3, &out, &res));
    CHECK(!res.refused);
    CHECK(strstr(rg_buf_str(&out), "TunnelDeck uses UDP port 51820 to reach the gateway. [2]") != NULL);
    /* the document's forged marker never becomes a citation */
    CHECK(strstr(rg_buf_str(&out), "[3]") == NULL);
    rg_answer a = {0};
    REQUIRE(rg_citations_check(out.data, out.len, s, 3, NULL, &a, NULL) == RG_OK);
    CHECK(a.supported_share == 1.0);
    REQUIRE(a.n_citations >= 1);
    CHECK_INT(a.citations[0].chunk_id, 2);
    CHECK(strstr(vpn, a.citations[0].passage) != NULL);
    rg_answer_free(&a);
    /* deterministic */
    char first[512];
    snprintf(first, sizeof first, "%s", rg_buf_str(&out));
    REQUIRE(answer(&g, "which UDP port does the VPN use", s, 3, &out, &res));
    CHECK_STR(rg_buf_str(&out), first);
    /* Chinese: bigram overlap */
    REQUIRE(answer(&g, "婚假有幾天", s, 3, &out, &res));
    CHECK(strstr(rg_buf_str(&out), "同仁結婚可請婚假 8 天,工資照給。 [3]") != NULL);
    /* streaming pieces add up to the text */
    size_t streamed = 0;
    rg_gen_request req = {.question = "screen lock minutes", .sources = s, .n_sources = 3,
                          .on_token = count_pieces, .token_ctx = &streamed};
    rg_buf_reset(&out);
    REQUIRE(rg_generate(&g, &req, &out, &res, NULL) == RG_OK);
    CHECK_INT(streamed, out.len);
    CHECK(strstr(rg_buf_str(&out), "5 minutes") != NULL);
    rg_buf_free(&out);
    rg_generator_close(&g);
}

static void test_refuses(void)
{
    rg_generator g;
    REQUIRE(rg_extractive_open(NULL, &g, NULL) == RG_OK);
    rg_source s[1] = {src("VPN", vpn, 2)};
    rg_buf out;
    rg_buf_init(&out, 1 << 16);
    rg_gen_result res;
    REQUIRE(answer(&g, "capital of France", s, 1, &out, &res));
    CHECK(res.refused);
    CHECK(strstr(rg_buf_str(&out), "do not contain") != NULL);
    REQUIRE(answer(&g, "火星衛星", s, 1, &out, &res));
    CHECK(res.refused);
    CHECK_STR(rg_buf_str(&out), "文件中沒有這個問題的答案。");
    rg_buf_free(&out);
    rg_generator_close(&g);
    rg_extractive_options o = rg_extractive_default_options();
    o.max_sentences = 0;
    CHECK_INT(rg_extractive_open(&o, &g, NULL), RG_EINVAL);
}

TEST_MAIN(TEST(test_picks_and_cites), TEST(test_refuses))
