/*
 * utf8.h — UTF-8 decoding and the Unicode classes ragd's text code needs.
 *
 * Decoding is strict (RFC 3629): no overlongs, no surrogates, nothing above
 * U+10FFFF. Script classes are what the tokenizers and the chunker care
 * about: which code points are CJK ideographs, kana or Hangul (indexed as
 * bigrams), and which are letters or digits (indexed as words).
 */
#ifndef RG_UTF8_H
#define RG_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Decodes one code point from s[0..n). Returns its byte length (1..4) and
 * stores it in *cp, or returns 0 for an invalid or truncated sequence (n == 0
 * included), leaving *cp = U+FFFD.
 */
size_t rg_utf8_decode(const char *s, size_t n, uint32_t *cp);

/* Encodes cp into out (at least 4 bytes); returns the length, 0 if invalid. */
size_t rg_utf8_encode(uint32_t cp, char *out);

/*
 * Returns 1 if s[0..n) is valid UTF-8, else 0 and the offset of the first
 * bad byte in *bad_offset (if not NULL).
 */
int rg_utf8_valid(const char *s, size_t n, size_t *bad_offset);

/* Largest k <= n such that s[0..k) does not end inside a sequence. */
size_t rg_utf8_floor(const char *s, size_t n);

/* CJK ideographs (Han, incl. extensions and compatibility blocks). */
int rg_is_han(uint32_t cp);
/* Han, Hiragana, Katakana, Hangul syllables/jamo, Bopomofo: indexed as bigrams. */
int rg_is_cjk(uint32_t cp);
/* Letters, marks and digits of any script (utf8proc categories L*, M*, N*). */
int rg_is_word_char(uint32_t cp);
/* Unicode white space (category Zs, Zl, Zp, and the ASCII controls \t\n\v\f\r). */
int rg_is_space(uint32_t cp);

#endif
