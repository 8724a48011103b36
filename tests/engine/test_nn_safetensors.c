#include "test.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine/base/mem.h"
#include "engine/nn/safetensors.h"

static char dir[] = "/tmp/ragd-st-XXXXXX";

/* Writes header JSON + data bytes as a safetensors file; returns its path (static). */
static const char *write_st(const char *name, const char *json, const void *data, size_t n,
                            long long hlen_override)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    unsigned long long h = hlen_override >= 0 ? (unsigned long long)hlen_override : strlen(json);
    for (int i = 0; i < 8; i++)
        fputc((int)((h >> (8 * i)) & 0xff), f);
    fwrite(json, 1, strlen(json), f);
    fwrite(data, 1, n, f);
    fclose(f);
    return path;
}

static void test_read_all_dtypes(void)
{
    float f[4] = {1.5f, -2.0f, 0.0f, 65504.0f};
    unsigned char data[16 + 8 + 8];
    memcpy(data, f, 16);
    /* F16: 1.0, -2.0, 65504, smallest subnormal */
    const uint16_t h[4] = {0x3c00, 0xc000, 0x7bff, 0x0001};
    const uint16_t b[4] = {0x3f80, 0xc000, 0x4049, 0x0000};
    memcpy(data + 16, h, 8);
    memcpy(data + 24, b, 8);
    const char *json = "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                       "\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[16,24]},"
                       "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]}}";
    const char *p = write_st("ok.safetensors", json, data, sizeof data, -1);
    rg_safetensors *st;
    rg_error err;
    REQUIRE(rg_safetensors_open(p, &st, &err) == RG_OK);
    CHECK_INT(rg_safetensors_count(st), 3);
    const float *v;
    int64_t s22[2] = {2, 2}, s4[1] = {4};
    CHECK_INT(rg_safetensors_f32(st, "a", 2, s22, &v, &err), RG_OK);
    CHECK(v[0] == 1.5f && v[3] == 65504.0f);
    CHECK_INT(rg_safetensors_f32(st, "h", 1, s4, &v, &err), RG_OK);
    CHECK(v[0] == 1.0f && v[1] == -2.0f && v[2] == 65504.0f && v[3] > 5.9e-8f && v[3] < 6.0e-8f);
    CHECK_INT(rg_safetensors_f32(st, "b", 1, s4, &v, &err), RG_OK);
    CHECK(v[0] == 1.0f && v[1] == -2.0f && v[2] > 3.14f && v[2] < 3.15f);
    CHECK_INT(rg_safetensors_f32(st, "a", 1, s4, &v, &err), RG_ECORRUPT); /* wrong shape */
    CHECK(strstr(err.msg, "shape [2,2], expected [4]") != NULL);
    CHECK_INT(rg_safetensors_f32(st, "nope", 1, s4, &v, &err), RG_ENOTFOUND);
    rg_safetensors_close(st);
}

static rg_status open_json(const char *json, size_t data_len)
{
    static unsigned char zeros[64];
    const char *p = write_st("bad.safetensors", json, zeros, data_len, -1);
    rg_safetensors *st = NULL;
    rg_error err;
    rg_status rc = rg_safetensors_open(p, &st, &err);
    if (rc == RG_OK)
        rg_safetensors_close(st);
    else
        CHECK(st == NULL && err.msg[0]);
    return rc;
}

static void test_damaged(void)
{
    rg_safetensors *st;
    rg_error err;
    /* offsets past the end (a truncated file) */
    CHECK_INT(open_json("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8), RG_ECORRUPT);
    /* byte count does not match the shape */
    CHECK_INT(open_json("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16), RG_ECORRUPT);
    /* reversed, negative and fractional offsets, negative dims, overflowing shapes */
    CHECK_INT(open_json("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 16), RG_ECORRUPT);
    CHECK_INT(open_json("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 16), RG_ECORRUPT);
    CHECK_INT(open_json("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 16), RG_ECORRUPT);
    CHECK_INT(open_json("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 16), RG_ECORRUPT);
    CHECK_INT(open_json("{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],"
                        "\"data_offsets\":[0,4]}}", 16), RG_ECORRUPT);
    /* unknown dtype, missing fields, not an object, not JSON */
    CHECK_INT(open_json("{\"a\":{\"dtype\":\"F7\",\"shape\":[1],\"data_offsets\":[0,4]}}", 16), RG_EUNSUPPORTED);
    CHECK_INT(open_json("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 16), RG_ECORRUPT);
    CHECK_INT(open_json("[1,2]", 16), RG_ECORRUPT);
    CHECK_INT(open_json("{\"a\":", 16), RG_ECORRUPT);
    CHECK_INT(open_json("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,2,3,4,5,6,7,8,9],\"data_offsets\":[0,4]}}", 16), RG_ELIMIT);
    /* header length larger than the file, and a file shorter than the length field */
    const char *p = write_st("hlen.safetensors", "{}", "", 0, 1000);
    CHECK_INT(rg_safetensors_open(p, &st, &err), RG_ECORRUPT);
    p = write_st("hlen2.safetensors", "{}", "", 0, (long long)1 << 62);
    CHECK_INT(rg_safetensors_open(p, &st, &err), RG_ECORRUPT);
    char path[512];
    snprintf(path, sizeof path, "%s/short.safetensors", dir);
    FILE *f = fopen(path, "wb");
    fwrite("abc", 1, 3, f);
    fclose(f);
    CHECK_INT(rg_safetensors_open(path, &st, &err), RG_ECORRUPT);
    CHECK_INT(rg_safetensors_open("/nonexistent.safetensors", &st, &err), RG_ENOTFOUND);
    /* a non-float tensor is listed but not served as f32 */
    p = write_st("i64.safetensors", "{\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}",
                 "\0\0\0\0\0\0\0\0", 8, -1);
    REQUIRE(rg_safetensors_open(p, &st, &err) == RG_OK);
    const float *v;
    int64_t s1[1] = {1};
    CHECK_INT(rg_safetensors_f32(st, "i", 1, s1, &v, &err), RG_EUNSUPPORTED);
    rg_safetensors_close(st);
}

/* Every truncation of a valid file fails cleanly (or, at full length, succeeds). */
static void test_every_truncation(void)
{
    float f[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const char *json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]}}";
    const char *p = write_st("full.safetensors", json, f, sizeof f, -1);
    FILE *in = fopen(p, "rb");
    unsigned char buf[256];
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    char path[512];
    snprintf(path, sizeof path, "%s/cut.safetensors", dir);
    for (size_t k = 0; k <= n; k++) {
        FILE *o = fopen(path, "wb");
        fwrite(buf, 1, k, o);
        fclose(o);
        rg_safetensors *st = NULL;
        rg_error err;
        rg_status rc = rg_safetensors_open(path, &st, &err);
        CHECK(k == n ? rc == RG_OK : rc == RG_ECORRUPT);
        rg_safetensors_close(st);
    }
}

static void test_alloc_failures(void)
{
    float f[2] = {1, 2};
    const char *p = write_st("af.safetensors",
                             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                             "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                             f, sizeof f, -1);
    for (unsigned long k = 1; k < 50; k++) {
        rg_safetensors *st = NULL;
        rg_error err;
        rg_mem_fail_at(k, 1);
        rg_status rc = rg_safetensors_open(p, &st, &err);
        rg_mem_fail_at(0, 0);
        CHECK(rc == RG_OK || rc == RG_ENOMEM);
        rg_safetensors_close(st);
        if (rc == RG_OK)
            break;
    }
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    static const test_case cases[] = {TEST(test_read_all_dtypes), TEST(test_damaged),
                                      TEST(test_every_truncation), TEST(test_alloc_failures)};
    int rc = test_run(cases, sizeof cases / sizeof cases[0]);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
