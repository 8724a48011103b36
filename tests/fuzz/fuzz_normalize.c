/*
 * fuzz_normalize.c — ingest/normalize.h on arbitrary bytes, in the mode
 * the first byte picks. Valid input must come out valid UTF-8 without
 * control characters other than \n and \t; in RG_WS_COLLAPSE mode without
 * those either, trimmed, and with no two spaces in a row.
 */
#include "fuzz.h"

#include "engine/base/buf.h"
#include "engine/base/utf8.h"
#include "ingest/normalize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = fuzz_in_make(data, size);
    rg_ws_mode mode = (rg_ws_mode)(fuzz_byte(&in) % 3);
    rg_buf out;
    rg_buf_init(&out, 16u << 20);
    rg_error err;
    rg_error_clear(&err);
    size_t bad;
    rg_status st = rg_normalize((const char *)in.p, in.n, mode, &out, &err);
    if (st == RG_OK) {
        const unsigned char *o = (const unsigned char *)out.data;
        FUZZ_CHECK(rg_utf8_valid(out.data, out.len, &bad));
        for (size_t i = 0; i < out.len; i++) {
            FUZZ_CHECK(o[i] >= 0x20 || o[i] == '\n' || o[i] == '\t');
            FUZZ_CHECK(o[i] != 0x7f);
            if (mode == RG_WS_COLLAPSE) {
                FUZZ_CHECK(o[i] != '\n' && o[i] != '\t');
                FUZZ_CHECK(!(o[i] == ' ' && (i == 0 || i + 1 == out.len || o[i + 1] == ' ')));
            }
        }
    } else {
        FUZZ_CHECK(st == RG_EUTF8 || st == RG_ELIMIT || st == RG_ENOMEM);
        FUZZ_CHECK(st != RG_EUTF8 || !rg_utf8_valid((const char *)in.p, in.n, &bad));
    }
    rg_buf_free(&out);
    return 0;
}
