/*
 * test_http.c — the HTTP client's SSRF guard: the address classifier, the
 * class of an endpoint URL, and refusals seen through rg_http_get (only
 * loopback and unspecified addresses are ever dialled, on port 1 where
 * nothing listens). Also the hub's name checks, which guard the paths the
 * model download writes.
 */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/base/http.h"
#include "engine/nn/hub.h"

static void test_classify_v4(void)
{
    CHECK_INT(rg_addr_classify_str("127.0.0.1"), RG_ADDR_LOOPBACK);
    CHECK_INT(rg_addr_classify_str("127.255.255.254"), RG_ADDR_LOOPBACK);
    CHECK_INT(rg_addr_classify_str("10.0.0.1"), RG_ADDR_PRIVATE);
    CHECK_INT(rg_addr_classify_str("10.255.255.255"), RG_ADDR_PRIVATE);
    CHECK_INT(rg_addr_classify_str("172.16.0.1"), RG_ADDR_PRIVATE);
    CHECK_INT(rg_addr_classify_str("172.31.255.255"), RG_ADDR_PRIVATE);
    CHECK_INT(rg_addr_classify_str("172.15.255.255"), RG_ADDR_PUBLIC);
    CHECK_INT(rg_addr_classify_str("172.32.0.1"), RG_ADDR_PUBLIC);
    CHECK_INT(rg_addr_classify_str("192.168.1.1"), RG_ADDR_PRIVATE);
    CHECK_INT(rg_addr_classify_str("100.64.0.1"), RG_ADDR_PRIVATE);
    CHECK_INT(rg_addr_classify_str("169.254.169.254"), RG_ADDR_LINKLOCAL);
    CHECK_INT(rg_addr_classify_str("0.0.0.0"), RG_ADDR_UNSPECIFIED);
    CHECK_INT(rg_addr_classify_str("0.1.2.3"), RG_ADDR_UNSPECIFIED);
    CHECK_INT(rg_addr_classify_str("224.0.0.1"), RG_ADDR_RESERVED);
    CHECK_INT(rg_addr_classify_str("255.255.255.255"), RG_ADDR_RESERVED);
    CHECK_INT(rg_addr_classify_str("8.8.8.8"), RG_ADDR_PUBLIC);
    CHECK_INT(rg_addr_classify_str("1.1.1.1"), RG_ADDR_PUBLIC);
    CHECK_INT(rg_addr_classify_str("192.169.0.1"), RG_ADDR_PUBLIC);
    CHECK_INT(rg_addr_classify_str("not an address"), RG_ADDR_RESERVED);
}

static void test_classify_v6(void)
{
    CHECK_INT(rg_addr_classify_str("::1"), RG_ADDR_LOOPBACK);
    CHECK_INT(rg_addr_classify_str("::"), RG_ADDR_UNSPECIFIED);
    CHECK_INT(rg_addr_classify_str("fc00::1"), RG_ADDR_PRIVATE);
    CHECK_INT(rg_addr_classify_str("fd12:3456:789a::1"), RG_ADDR_PRIVATE);
    CHECK_INT(rg_addr_classify_str("fe80::1"), RG_ADDR_LINKLOCAL);
    CHECK_INT(rg_addr_classify_str("febf::1"), RG_ADDR_LINKLOCAL);
    CHECK_INT(rg_addr_classify_str("fec0::1"), RG_ADDR_PRIVATE);
    CHECK_INT(rg_addr_classify_str("ff02::1"), RG_ADDR_RESERVED);
    /* addresses that carry an IPv4 address are judged by it */
    CHECK_INT(rg_addr_classify_str("::ffff:127.0.0.1"), RG_ADDR_LOOPBACK);
    CHECK_INT(rg_addr_classify_str("::ffff:10.1.2.3"), RG_ADDR_PRIVATE);
    CHECK_INT(rg_addr_classify_str("::ffff:169.254.169.254"), RG_ADDR_LINKLOCAL);
    CHECK_INT(rg_addr_classify_str("::ffff:8.8.8.8"), RG_ADDR_PUBLIC);
    CHECK_INT(rg_addr_classify_str("::127.0.0.1"), RG_ADDR_LOOPBACK);
    CHECK_INT(rg_addr_classify_str("64:ff9b::a00:1"), RG_ADDR_PRIVATE);
    CHECK_INT(rg_addr_classify_str("2002:7f00:1::"), RG_ADDR_LOOPBACK);
    CHECK_INT(rg_addr_classify_str("2001:db8::1"), RG_ADDR_RESERVED);
    CHECK_INT(rg_addr_classify_str("2606:4700:4700::1111"), RG_ADDR_PUBLIC);
    CHECK_INT(rg_addr_classify_str("2a00:1450:4001::200e"), RG_ADDR_PUBLIC);
}

static void test_classify_sockaddr(void)
{
    struct sockaddr_in in = {.sin_family = AF_INET};
    inet_pton(AF_INET, "192.168.0.10", &in.sin_addr);
    CHECK_INT(rg_addr_classify((const struct sockaddr *)&in), RG_ADDR_PRIVATE);
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr);
    CHECK_INT(rg_addr_classify((const struct sockaddr *)&in6), RG_ADDR_LOOPBACK);
    struct sockaddr other = {.sa_family = AF_UNIX};
    CHECK_INT(rg_addr_classify(&other), RG_ADDR_RESERVED);
}

static void test_allowed(void)
{
    CHECK(rg_addr_allowed(RG_ADDR_PUBLIC, 0));
    CHECK(!rg_addr_allowed(RG_ADDR_LOOPBACK, 0));
    CHECK(!rg_addr_allowed(RG_ADDR_PRIVATE, 0));
    CHECK(!rg_addr_allowed(RG_ADDR_LINKLOCAL, 0));
    CHECK(!rg_addr_allowed(RG_ADDR_UNSPECIFIED, 0));
    CHECK(rg_addr_allowed(RG_ADDR_LOOPBACK, RG_HTTP_ALLOW_LOOPBACK));
    CHECK(!rg_addr_allowed(RG_ADDR_PRIVATE, RG_HTTP_ALLOW_LOOPBACK));
    CHECK(rg_addr_allowed(RG_ADDR_PRIVATE, RG_HTTP_ALLOW_PRIVATE));
    CHECK(rg_addr_allowed(RG_ADDR_LINKLOCAL, RG_HTTP_ALLOW_PRIVATE));
    CHECK(!rg_addr_allowed(RG_ADDR_LOOPBACK, RG_HTTP_ALLOW_PRIVATE));
    CHECK(!rg_addr_allowed(RG_ADDR_UNSPECIFIED, RG_HTTP_ALLOW_LOOPBACK | RG_HTTP_ALLOW_PRIVATE));
    CHECK(rg_addr_allowed(RG_ADDR_UNSPECIFIED, RG_HTTP_ALLOW_ANY));
    CHECK(rg_addr_allowed(RG_ADDR_RESERVED, RG_HTTP_ALLOW_ANY));
}

static void test_url_host_class(void)
{
    rg_addr_class c;
    rg_error err;
    CHECK_INT(rg_http_url_host_class("http://127.0.0.1:8080/x", &c, &err), RG_OK);
    CHECK_INT(c, RG_ADDR_LOOPBACK);
    CHECK_INT(rg_http_url_host_class("http://[::1]:8080", &c, &err), RG_OK);
    CHECK_INT(c, RG_ADDR_LOOPBACK);
    CHECK_INT(rg_http_url_host_class("http://LocalHost:1/", &c, &err), RG_OK);
    CHECK_INT(c, RG_ADDR_LOOPBACK);
    CHECK_INT(rg_http_url_host_class("http://10.1.2.3/", &c, &err), RG_OK);
    CHECK_INT(c, RG_ADDR_PRIVATE);
    CHECK_INT(rg_http_url_host_class("https://huggingface.co", &c, &err), RG_OK);
    CHECK_INT(c, RG_ADDR_PUBLIC);
    /* a name is judged once resolved, not by how it looks */
    CHECK_INT(rg_http_url_host_class("http://127.0.0.1.example.com/", &c, &err), RG_OK);
    CHECK_INT(c, RG_ADDR_PUBLIC);
    CHECK_INT(rg_http_url_host_class("no scheme here", &c, &err), RG_EINVAL);
}

/* A GET that must fail; returns its status and leaves the message in err. */
static rg_status get_fails(const char *url, unsigned allow, rg_error *err)
{
    rg_http_options o = rg_http_default_options();
    o.allow = allow;
    o.connect_timeout_ms = 2000;
    o.timeout_ms = 5000;
    rg_http *h;
    if (rg_http_open(&o, &h, err) != RG_OK) return RG_EINTERNAL;
    rg_http_request req = {.url = url};
    rg_http_response resp;
    rg_status rc = rg_http_get(h, &req, &resp, err);
    rg_http_close(h);
    return rc;
}

static void test_guard_refuses(void)
{
    rg_error err;
    CHECK_INT(get_fails("http://127.0.0.1:1/", 0, &err), RG_ENET);
    CHECK(strstr(err.msg, "refused to connect to loopback address 127.0.0.1") != NULL);
    CHECK_INT(get_fails("http://[::1]:1/", 0, &err), RG_ENET);
    CHECK(strstr(err.msg, "refused to connect to loopback address ::1") != NULL);
    CHECK_INT(get_fails("http://0.0.0.0:1/", RG_HTTP_ALLOW_LOOPBACK, &err), RG_ENET);
    CHECK(strstr(err.msg, "unspecified address 0.0.0.0") != NULL);
    /* allowed: the guard lets it through and the connection itself fails */
    CHECK_INT(get_fails("http://127.0.0.1:1/", RG_HTTP_ALLOW_LOOPBACK, &err), RG_ENET);
    CHECK(strstr(err.msg, "refused to connect to") == NULL);
    /* other schemes never get as far as a socket */
    CHECK_INT(get_fails("file:///etc/passwd", RG_HTTP_ALLOW_ANY, &err), RG_EUNSUPPORTED);
    CHECK_INT(get_fails("ftp://127.0.0.1:1/", RG_HTTP_ALLOW_ANY, &err), RG_EUNSUPPORTED);
}

/*
 * However a URL spells an address (decimal, octal or hex IPv4, short forms,
 * IPv4-mapped IPv6), the guard judges the address the socket would reach.
 * Every case is refused before a connection is attempted.
 */
static void test_guard_literal_forms(void)
{
    static const struct {
        const char *url, *want;
    } cases[] = {
        {"http://2130706433:1/", "loopback address 127.0.0.1"},
        {"http://0177.0.0.1:1/", "loopback address 127.0.0.1"},
        {"http://0x7f.0.0.1:1/", "loopback address 127.0.0.1"},
        {"http://127.1:1/", "loopback address 127.0.0.1"},
        {"http://[::ffff:127.0.0.1]:1/", "loopback address ::ffff:127.0.0.1"},
        {"http://[::ffff:7f00:1]:1/", "loopback address ::ffff:127.0.0.1"},
        {"http://[0:0:0:0:0:0:0:1]:1/", "loopback address ::1"},
        {"http://0:1/", "unspecified address 0.0.0.0"},
        {"http://[::]:1/", "unspecified address ::"},
        {"http://169.254.169.254:1/", "link-local address 169.254.169.254"},
        {"http://2852039166:1/", "link-local address 169.254.169.254"},
        {"http://0251.0376.0251.0376:1/", "link-local address 169.254.169.254"},
        {"http://[::ffff:a9fe:a9fe]:1/", "link-local address ::ffff:169.254.169.254"},
        {"http://[fe80::1]:1/", "link-local address fe80::1"},
        {"http://10.0.0.1:1/", "private address 10.0.0.1"},
        {"http://0xc0a80001:1/", "private address 192.168.0.1"},
        {"http://[fd00::1]:1/", "private address fd00::1"},
        {"http://[64:ff9b::a00:1]:1/", "private address 64:ff9b::a00:1"},
        {"http://224.0.0.1:1/", "reserved address 224.0.0.1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rg_error err;
        rg_error_clear(&err);
        rg_status st = get_fails(cases[i].url, 0, &err);
        CHECK_INT(st, RG_ENET);
        if (!strstr(err.msg, cases[i].want)) {
            fprintf(stderr, "%s: %s\n", cases[i].url, err.msg);
            CHECK(strstr(err.msg, cases[i].want) != NULL);
        }
    }
    /* loopback allowed does not let the private or link-local forms through */
    rg_error err;
    CHECK_INT(get_fails("http://2852039166:1/", RG_HTTP_ALLOW_LOOPBACK, &err), RG_ENET);
    CHECK(strstr(err.msg, "refused to connect to link-local") != NULL);
    CHECK_INT(get_fails("http://[::ffff:10.0.0.1]:1/", RG_HTTP_ALLOW_LOOPBACK, &err), RG_ENET);
    CHECK(strstr(err.msg, "refused to connect to private") != NULL);
}

static void test_hub_names(void)
{
    CHECK(rg_hub_valid_repo_id("sentence-transformers/all-MiniLM-L6-v2"));
    CHECK(rg_hub_valid_repo_id("BAAI/bge-m3"));
    CHECK(!rg_hub_valid_repo_id("bert-base-uncased"));
    CHECK(!rg_hub_valid_repo_id("a/b/c"));
    CHECK(!rg_hub_valid_repo_id("../x"));
    CHECK(!rg_hub_valid_repo_id("a/.."));
    CHECK(!rg_hub_valid_repo_id("a/b..c"));
    CHECK(!rg_hub_valid_repo_id("a/-b"));
    CHECK(!rg_hub_valid_repo_id("a/b?c"));
    CHECK(!rg_hub_valid_repo_id("/b"));
    CHECK(rg_hub_valid_path("1_Pooling/config.json"));
    CHECK(!rg_hub_valid_path("/etc/passwd"));
    CHECK(!rg_hub_valid_path("../config.json"));
    CHECK(!rg_hub_valid_path("a/../../b"));
    CHECK(!rg_hub_valid_path("a//b"));
    CHECK(!rg_hub_valid_path("./a"));
    CHECK(!rg_hub_valid_path("a\\b"));
    CHECK(!rg_hub_valid_path(""));
    CHECK(rg_hub_valid_revision("main"));
    CHECK(rg_hub_valid_revision("refs/pr/1"));
    CHECK(!rg_hub_valid_revision("../main"));
    CHECK(!rg_hub_valid_revision("-x"));
    CHECK(!rg_hub_valid_revision("a b"));
}

TEST_MAIN(TEST(test_classify_v4), TEST(test_classify_v6), TEST(test_classify_sockaddr),
          TEST(test_allowed), TEST(test_url_host_class), TEST(test_guard_refuses),
          TEST(test_guard_literal_forms), TEST(test_hub_names))
