/*
 * normalize.h — turns raw UTF-8 into the text ragd indexes.
 *
 * Steps, in order: validate UTF-8 (reject with the byte offset of the first
 * bad byte), drop a leading BOM, NFKC (utf8proc; this also folds full-width
 * ASCII and half-width katakana), CRLF/CR to LF, remove control characters
 * other than \n and \t, and clean white space according to the mode.
 *
 * Details: NFKC is what utf8proc_map(COMPOSE | COMPAT | STABLE) computes,
 * done with a scratch buffer from rg_malloc. \v, \f, NEL (U+0085) and the
 * line and paragraph separators (U+2028, U+2029) count as line ends rather
 * than removed controls, so pages split by form feeds keep their words
 * apart. White space is \t and every code point rg_is_space accepts (after
 * NFKC most Unicode spaces are already U+0020). Other format characters
 * (zero-width joiners, a U+FEFF that is not at the start) are kept.
 */
#ifndef RG_NORMALIZE_H
#define RG_NORMALIZE_H

#include <stddef.h>

#include "engine/base/buf.h"
#include "engine/base/status.h"

typedef enum rg_ws_mode {
    RG_WS_COLLAPSE,   /* every run of white space (newlines too) becomes one space; trimmed */
    RG_WS_PARAGRAPHS, /* runs of spaces/tabs become one space, lines trimmed,
                         3+ newlines become 2; leading/trailing blank lines dropped */
    RG_WS_KEEP,       /* code: only line ends normalised and trailing spaces of lines trimmed */
} rg_ws_mode;

/*
 * Appends the normalised form of in[0..n) to out. On invalid UTF-8 returns
 * RG_EUTF8 with "invalid UTF-8 at byte N" (N relative to in) and leaves out
 * as it was.
 */
rg_status rg_normalize(const char *in, size_t n, rg_ws_mode mode, rg_buf *out, rg_error *err);

#endif
