#include "test.h"

#include "engine/base/buf.h"
#include "engine/base/mem.h"
#include "engine/base/sha256.h"
#include "engine/base/status.h"
#include "engine/base/utf8.h"
#include "engine/base/zh.h"

static void test_sha256_vectors(void)
{
    char hex[65];
    rg_sha256_hex("", 0, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    rg_sha256_hex("abc", 3, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    rg_sha256_hex(two, strlen(two), hex);
    CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* one million 'a', fed in uneven pieces */
    rg_sha256 c;
    unsigned char d[32];
    char piece[997];
    memset(piece, 'a', sizeof piece);
    rg_sha256_init(&c);
    size_t left = 1000000;
    while (left) {
        size_t k = left < sizeof piece ? left : sizeof piece;
        rg_sha256_update(&c, piece, k);
        left -= k;
    }
    rg_sha256_final(&c, d);
    CHECK(d[0] == 0xcd && d[1] == 0xc7 && d[31] == 0xd0);
}

static void test_utf8_decode(void)
{
    uint32_t cp;
    CHECK_INT(rg_utf8_decode("\xe4\xb8\xad", 3, &cp), 3);
    CHECK_INT(cp, 0x4E2D);
    CHECK_INT(rg_utf8_decode("\xe4\xb8", 2, &cp), 0); /* truncated */
    CHECK_INT(rg_utf8_decode("\xc0\xaf", 2, &cp), 0); /* overlong */
    CHECK_INT(rg_utf8_decode("\xed\xa0\x80", 3, &cp), 0); /* surrogate */
    CHECK_INT(rg_utf8_decode("\xf4\x90\x80\x80", 4, &cp), 0); /* > U+10FFFF */
    CHECK_INT(rg_utf8_decode("\xf0\x9f\x98\x80", 4, &cp), 4);
    CHECK_INT(cp, 0x1F600);
    char out[4];
    CHECK_INT(rg_utf8_encode(0x1F600, out), 4);
    CHECK(memcmp(out, "\xf0\x9f\x98\x80", 4) == 0);
    CHECK_INT(rg_utf8_encode(0xD800, out), 0);
}

static void test_utf8_valid_and_floor(void)
{
    size_t bad = 0;
    CHECK(rg_utf8_valid("abc\xe4\xb8\xad", 6, &bad));
    CHECK(!rg_utf8_valid("ab\xff" "c", 4, &bad));
    CHECK_INT(bad, 2);
    const char *s = "a\xe4\xb8\xad" "b";
    CHECK_INT(rg_utf8_floor(s, 5), 5);
    CHECK_INT(rg_utf8_floor(s, 4), 4);
    CHECK_INT(rg_utf8_floor(s, 3), 1);
    CHECK_INT(rg_utf8_floor(s, 2), 1);
    CHECK_INT(rg_utf8_floor(s, 0), 0);
}

static void test_classes(void)
{
    CHECK(rg_is_han(0x4E2D));
    CHECK(rg_is_cjk(0x3042));  /* あ */
    CHECK(rg_is_cjk(0xAC00));  /* 가 */
    CHECK(!rg_is_cjk('a'));
    CHECK(rg_is_word_char(0xE9)); /* é */
    CHECK(rg_is_word_char('7'));
    CHECK(!rg_is_word_char(0x3002)); /* 。 */
    CHECK(rg_is_space(0x3000));      /* ideographic space */
    CHECK(!rg_is_space('x'));
}

static void test_buf_limits(void)
{
    rg_buf b;
    rg_buf_init(&b, 8);
    CHECK_INT(rg_buf_puts(&b, "12345678"), RG_OK);
    CHECK_INT(rg_buf_putc(&b, '9'), RG_ELIMIT);
    CHECK_STR(rg_buf_str(&b), "12345678");
    rg_buf_reset(&b);
    CHECK_INT(rg_buf_printf(&b, "%d-%s", 42, "x"), RG_OK);
    CHECK_STR(rg_buf_str(&b), "42-x");
    rg_buf_free(&b);
    CHECK_STR(rg_buf_str(&b), "");
}

static void test_mem_fault_injection(void)
{
    rg_mem_fail_at(2, 0);
    void *a = rg_malloc(8);
    void *b = rg_malloc(8);
    void *c = rg_malloc(8);
    CHECK(a != NULL);
    CHECK(b == NULL);
    CHECK(c != NULL);
    rg_free(a);
    rg_free(c);
    rg_mem_fail_at(0, 0);
    rg_buf buf;
    rg_buf_init(&buf, 100);
    rg_mem_fail_at(1, 1);
    CHECK_INT(rg_buf_puts(&buf, "x"), RG_ENOMEM);
    rg_mem_fail_at(0, 0);
    CHECK_INT(rg_buf_puts(&buf, "x"), RG_OK);
    rg_buf_free(&buf);
}

/* Traditional and Simplified forms (engine/base/zh.h), against pairs any
 * dictionary gives. */
static void test_zh(void)
{
    CHECK_INT(rg_zh_simplified(0x6AA2), 0x68C0); /* 檢 -> 检 */
    CHECK_INT(rg_zh_simplified(0x88DC), 0x8865); /* 補 -> 补 */
    CHECK_INT(rg_zh_simplified(0x9AEE), 0x53D1); /* 髮 -> 发 */
    CHECK_INT(rg_zh_simplified(0x767C), 0x53D1); /* 發 -> 发 */
    CHECK_INT(rg_zh_simplified(0x68C0), 0x68C0); /* 检: already Simplified */
    CHECK_INT(rg_zh_simplified(0x5929), 0x5929); /* 天: the same in both */
    CHECK_INT(rg_zh_simplified('A'), 'A');
    CHECK_INT(rg_zh_simplified(0x10FFFF), 0x10FFFF);
    uint32_t t[RG_ZH_FORMS_MAX];
    size_t n = rg_zh_traditional(0x53D1, t, RG_ZH_FORMS_MAX); /* 发 */
    int fa = 0, fa2 = 0;
    for (size_t i = 0; i < n && i < RG_ZH_FORMS_MAX; i++) {
        fa |= t[i] == 0x767C, fa2 |= t[i] == 0x9AEE;
        CHECK_INT(rg_zh_simplified(t[i]), 0x53D1);
        if (i) CHECK(t[i - 1] < t[i]);
    }
    CHECK(fa && fa2);
    CHECK_INT(rg_zh_traditional(0x5929, t, RG_ZH_FORMS_MAX), 0); /* 天 */
    CHECK_INT(rg_zh_traditional(0x68C0, t, 0), 1);               /* 检: counted, not written */
    char out[64];
    const char *s = "健康檢查補助 OK";
    size_t len = rg_zh_fold(s, strlen(s), out, sizeof out);
    REQUIRE(len > 0);
    CHECK(len == strlen("健康检查补助 OK") && memcmp(out, "健康检查补助 OK", len) == 0);
    CHECK_INT(rg_zh_fold("健康 OK", strlen("健康 OK"), out, sizeof out), 0); /* nothing to fold */
    CHECK_INT(rg_zh_fold(s, strlen(s), out, 4), 0);                          /* no room */
    /* an ASCII prefix is copied before the first ideograph; ASCII alone folds to nothing */
    const char *mixed = "OK: 檢查 é 補";
    len = rg_zh_fold(mixed, strlen(mixed), out, sizeof out);
    CHECK(len == strlen("OK: 检查 é 补") && memcmp(out, "OK: 检查 é 补", len) == 0);
    CHECK_INT(rg_zh_fold("plain ascii", 11, out, sizeof out), 0);
    CHECK_INT(rg_zh_fold("", 0, out, sizeof out), 0);
    CHECK_INT(rg_zh_fold(mixed, strlen(mixed), out, 2), 0); /* no room for the prefix */
}

static void test_errors(void)
{
    rg_error e;
    rg_error_clear(&e);
    CHECK_STR(rg_error_message(&e), "success");
    CHECK_INT(rg_fail(&e, RG_EIO, "cannot open %s", "x.txt"), RG_EIO);
    CHECK_STR(rg_error_message(&e), "cannot open x.txt");
    CHECK_STR(rg_strerror(RG_ENOMEM), "out of memory");
    CHECK_STR(rg_strerror((rg_status)999), "unknown error");
}

TEST_MAIN(TEST(test_sha256_vectors), TEST(test_utf8_decode), TEST(test_utf8_valid_and_floor),
          TEST(test_classes), TEST(test_buf_limits), TEST(test_mem_fault_injection), TEST(test_zh),
          TEST(test_errors))
