/*
 * zh.h — Traditional and Simplified Chinese as one script for matching.
 *
 * A question written in one script must find passages written in the
 * other ("检查" and "檢查"). Matching code folds Traditional ideographs to
 * Simplified (rg_zh_simplified), or, where only one side can be changed (a
 * query against an index of unfolded text), asks for the Traditional forms
 * of a Simplified one (rg_zh_traditional). The table is ICU's Hant-Hans
 * transform taken one character at a time, generated at build time
 * (gen_zh_table.c): one-to-one character folding, not the phrase-level
 * conversion a translator would do, which is what term matching needs.
 * Pure functions over a constant table; thread-safe.
 */
#ifndef RG_ZH_H
#define RG_ZH_H

#include <stddef.h>
#include <stdint.h>

/* Most Traditional forms rg_zh_traditional returns for one character. */
#define RG_ZH_FORMS_MAX 8

/* The Simplified form of cp; cp itself when it has none (already
 * Simplified, or not an ideograph). */
uint32_t rg_zh_simplified(uint32_t cp);

/*
 * The Traditional characters whose Simplified form is cp (发: 發 髮), in
 * code point order, into out[0..cap); returns how many there are (at most
 * RG_ZH_FORMS_MAX), which may exceed cap. 0 when cp has none.
 */
size_t rg_zh_traditional(uint32_t cp, uint32_t *out, size_t cap);

/*
 * Folds the ideographs of s[0..n) (UTF-8) to Simplified into out (room for
 * cap bytes; a folded character never takes more bytes than it had, so cap
 * = n suffices). Returns the bytes written, or 0 when s holds nothing to
 * fold (out is then unspecified): callers then keep s as it is.
 */
size_t rg_zh_fold(const char *s, size_t n, char *out, size_t cap);

#endif
