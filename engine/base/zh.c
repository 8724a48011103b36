/*
 * zh.c — Traditional/Simplified folding over the generated table. See zh.h.
 */
#include "engine/base/zh.h"

#include <string.h>

#include "engine/base/utf8.h"
#include "engine/base/zh_table.h"

/* First row of table (RG_ZH_PAIRS rows, ascending in column col) whose
 * column col is not below key. */
static size_t lower_bound(const uint32_t (*table)[2], int col, uint32_t key)
{
    size_t lo = 0, hi = RG_ZH_PAIRS;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (table[mid][col] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint32_t rg_zh_simplified(uint32_t cp)
{
    /* below the table's first character (ASCII and every other script
     * before the ideographs): nothing to look up */
    if (cp < rg_zh_by_traditional[0][0]) return cp;
    size_t i = lower_bound(rg_zh_by_traditional, 0, cp);
    return i < RG_ZH_PAIRS && rg_zh_by_traditional[i][0] == cp ? rg_zh_by_traditional[i][1] : cp;
}

size_t rg_zh_traditional(uint32_t cp, uint32_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = lower_bound(rg_zh_by_simplified, 1, cp);
         i < RG_ZH_PAIRS && rg_zh_by_simplified[i][1] == cp && n < RG_ZH_FORMS_MAX; i++, n++)
        if (n < cap) out[n] = rg_zh_by_simplified[i][0];
    return n;
}

size_t rg_zh_fold(const char *s, size_t n, char *out, size_t cap)
{
    size_t i = 0, o = 0;
    int changed = 0;
    /* ASCII (every byte of most tokens) holds no ideograph */
    while (i < n && (unsigned char)s[i] < 0x80)
        i++;
    if (i == n) return 0;
    if (i > cap) return 0; /* out too small, as below */
    memcpy(out, s, i);
    o = i;
    while (i < n) {
        uint32_t cp;
        size_t k = rg_utf8_decode(s + i, n - i, &cp);
        if (k == 0) { /* not UTF-8: copied as it is */
            if (o == cap) return 0;
            out[o++] = s[i++];
            continue;
        }
        uint32_t f = rg_zh_simplified(cp);
        char enc[4];
        size_t e = f != cp ? rg_utf8_encode(f, enc) : 0;
        if (e && e <= k) {
            changed = 1;
        } else {
            memcpy(enc, s + i, k);
            e = k;
        }
        if (o + e > cap) return 0;
        memcpy(out + o, enc, e);
        o += e;
        i += k;
    }
    return changed ? o : 0;
}
