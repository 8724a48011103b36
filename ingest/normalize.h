/*
 * normalize.h — turns raw UTF-8 into the text ragd indexes.
 *
 * Steps, in order: validate UTF-8 (reject with the byte offset of the first
 * bad byte), drop a leading BOM, NFKC (utf8proc; this also folds full-width
 * ASCII and half-width katakana), CRLF/CR to LF, remove control characters
 * other than \n and \t, and clean white space according to the mode.
 */
#ifndef RG_NORMALIZE_H
#define RG_NORMALIZE_H

#include <stddef.h>

#include "engine/base/buf.h"
#include "engine/base/status.h"

typedef enum rg_ws_mode {
    RG_WS_COLLAPSE, /* every run of white space (newlines too) becomes one space; trimmed */
    RG_WS_PARAGRAPHS, /* runs of spaces/tabs become one space, lines trimmed,
                         3+ newlines become 2; leading/trailing blank lines dropped */
    RG_WS_KEEP,     /* code: only line ends normalised and trailing spaces of lines trimmed */
} rg_ws_mode;

/*
 * Appends the normalised form of in[0..n) to out. On invalid UTF-8 returns
 * RG_EUTF8 with "invalid UTF-8 at byte N" (N relative to in) and leaves out
 * as it was.
 */
rg_status rg_normalize(const char *in, size_t n, rg_ws_mode mode, rg_buf *out, rg_error *err);

#endif
