#include "test.h"

#include <math.h>

#include "index/fusion.h"

static void test_rrf_matches_formula(void)
{
    rg_ranked lex[] = {{10, 9.0f}, {20, 5.0f}, {30, 1.0f}};
    rg_ranked dense[] = {{30, 0.9f}, {40, 0.8f}, {10, 0.1f}};
    rg_ranked out[10];
    size_t n;
    rg_error err;
    rg_fusion_options o = {RG_FUSE_RRF, 60, 0.5};
    REQUIRE(rg_fuse(&o, lex, 3, dense, 3, 10, out, &n, &err) == RG_OK);
    CHECK_INT(n, 4);
    /* 10: 1/61 + 1/63; 30: 1/63 + 1/61; tie broken by lower id */
    CHECK_INT(out[0].id, 10);
    CHECK_INT(out[1].id, 30);
    CHECK(fabs(out[0].score - (1.0 / 61 + 1.0 / 63)) < 1e-6);
    CHECK(fabs(out[1].score - out[0].score) < 1e-7);
    /* 20 (1/62) and 40 (1/62) tie too */
    CHECK_INT(out[2].id, 20);
    CHECK_INT(out[3].id, 40);
    REQUIRE(rg_fuse(&o, lex, 3, dense, 3, 2, out, &n, &err) == RG_OK);
    CHECK_INT(n, 2);
}

static void test_weighted(void)
{
    rg_ranked lex[] = {{1, 10.0f}, {2, 6.0f}, {3, 2.0f}};
    rg_ranked dense[] = {{3, 1.0f}, {2, 0.5f}, {1, 0.0f}};
    rg_ranked out[3];
    size_t n;
    rg_error err;
    rg_fusion_options o = {RG_FUSE_WEIGHTED, 60, 0.5};
    REQUIRE(rg_fuse(&o, lex, 3, dense, 3, 3, out, &n, &err) == RG_OK);
    /* normalised: lex 1:1, 2:0.5, 3:0; dense 3:1, 2:0.5, 1:0 -> all 0.5; ids order */
    CHECK_INT(out[0].id, 1);
    CHECK(fabs(out[0].score - 0.5) < 1e-6 && fabs(out[2].score - 0.5) < 1e-6);
    o.alpha = 0.8; /* dense dominates */
    REQUIRE(rg_fuse(&o, lex, 3, dense, 3, 3, out, &n, &err) == RG_OK);
    CHECK_INT(out[0].id, 3);
    CHECK(fabs(out[0].score - 0.8) < 1e-6);
    o.alpha = 0; /* lexical only */
    REQUIRE(rg_fuse(&o, lex, 3, dense, 3, 3, out, &n, &err) == RG_OK);
    CHECK_INT(out[0].id, 1);
    CHECK_INT(out[2].id, 3);
}

static void test_defaults(void)
{
    rg_fusion_options o = rg_fusion_default_options();
    CHECK_INT(o.method, RG_FUSE_WEIGHTED);
    CHECK(fabs(o.alpha - 0.6) < 1e-9);
    CHECK(fabs(o.rrf_k - 60) < 1e-9);
}

static void test_edges(void)
{
    rg_ranked out[4];
    size_t n = 99;
    rg_error err;
    rg_fusion_options o = rg_fusion_default_options();
    CHECK_INT(rg_fuse(&o, NULL, 0, NULL, 0, 4, out, &n, &err), RG_OK);
    CHECK_INT(n, 0);
    rg_ranked one[] = {{5, 1.0f}};
    CHECK_INT(rg_fuse(&o, one, 1, NULL, 0, 4, out, &n, &err), RG_OK);
    CHECK_INT(n, 1);
    CHECK_INT(out[0].id, 5);
    o.alpha = 1.5;
    CHECK_INT(rg_fuse(&o, one, 1, NULL, 0, 4, out, &n, &err), RG_EINVAL);
}

TEST_MAIN(TEST(test_rrf_matches_formula), TEST(test_weighted), TEST(test_defaults),
          TEST(test_edges))
