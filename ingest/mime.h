/*
 * mime.h — decoding what e-mail encodes: transfer encodings, RFC 2047
 * encoded words in headers, and charsets, always ending in UTF-8.
 *
 * Mail in the wild breaks its own rules, so decoding never fails on bad
 * input: stray characters in base64 are skipped, a lone '=' in
 * quoted-printable stays, bytes a charset cannot convert become U+FFFD.
 * The only errors are RG_ENOMEM and RG_ELIMIT (out's maximum, see buf.h).
 * Every function appends to out, which the caller owns.
 */
#ifndef RG_MIME_H
#define RG_MIME_H

#include <stddef.h>

#include "engine/base/buf.h"
#include "engine/base/status.h"

/* Longest charset label taken from a message; longer ones count as unknown. */
#define RG_MIME_CHARSET_MAX 64

/* Base64 (RFC 2045): characters outside the alphabet are skipped; '=' ends the data. */
rg_status rg_mime_base64(const char *s, size_t n, rg_buf *out);

/*
 * Quoted-printable (RFC 2045): =XX bytes, soft line breaks. With q_word set
 * it is the Q encoding of RFC 2047, where '_' stands for a space.
 */
rg_status rg_mime_qp(const char *s, size_t n, int q_word, rg_buf *out);

/*
 * s[0..n) in charset (a MIME label such as "big5", "ISO-8859-1"; NULL or ""
 * when the message gives none) as UTF-8. Unlabelled, us-ascii and unknown
 * text is taken as UTF-8 when it is valid and as windows-1252 when it is
 * not; UTF-8 that is not valid gets U+FFFD for its bad bytes. Latin-1 is
 * read as windows-1252 and GB2312/GBK as GB18030, their supersets, as
 * browsers do. NUL bytes are dropped.
 */
rg_status rg_mime_to_utf8(const char *charset, const char *s, size_t n, rg_buf *out);

/*
 * An unfolded header value with its RFC 2047 encoded words ("=?charset?B?...?="
 * or "?Q?") decoded to UTF-8; white space between two encoded words goes, as
 * the RFC says. The rest is taken as rg_mime_to_utf8 takes unlabelled text.
 */
rg_status rg_mime_decode_header(const char *s, size_t n, rg_buf *out);

#endif
