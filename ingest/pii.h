/*
 * pii.h — finding personal data in text and masking it before indexing.
 *
 * rg_pii_mask copies UTF-8 text, replacing each detected e-mail address,
 * phone number, payment card, IBAN, Taiwan or mainland China national ID,
 * US social security number and IP address with a typed placeholder such as
 * "[EMAIL]", and counts the matches per type. Ingestion runs it on a file's
 * bytes before they are parsed, so nothing masked reaches the chunker, the
 * encoder or the store.
 *
 * Detection is ASCII pattern matching plus a validator per type; it never
 * allocates and reads each byte a bounded number of times (no match is
 * longer than RG_PII_MATCH_MAX). Matches start and end on word boundaries:
 * the neighbouring byte is not an ASCII letter, digit or '_', and not a
 * joiner ('.', '-', '/', ':', ',') that continues a digit run. A CJK
 * character (or any non-ASCII byte) next to a match is a boundary, so
 * "電話0912-345-678請" matches. Full-width digits and letters are not
 * recognised.
 *
 * Precision trade-offs, per type:
 *   EMAIL  ASCII local part [A-Za-z0-9._%+-] (no leading, trailing or double
 *          dot), a domain of two or more labels and an alphabetic TLD of two
 *          or more letters. Internationalised addresses are not found.
 *   PHONE  "+CC ..." with 8-15 digits in all (E.164); +886 and +86 numbers
 *          must also be valid Taiwan / mainland numbers. Without a '+':
 *          Taiwan mobiles (09 + 8 digits, grouped or not), mainland mobiles
 *          (1[3-9] + 9 digits, compact or 3-4-4), and landlines written with
 *          a separated or bracketed area code starting with 0 ("02-2345-6789",
 *          "(02)2345 6789", "010-12345678"): 9-12 digits in all. Other
 *          domestic formats (US "206-555-0123", ...) are not found: without
 *          a country code they look like order numbers and dates. An 11-digit
 *          order number starting with 13-19 is masked as a phone.
 *   CARD   13-19 digits, compact or grouped with one kind of single separator
 *          (space or '-'), Luhn-valid, with a card-network prefix (4, 51-55,
 *          22-27, 34/37 with 15 digits, 30/36/38, 35, 6). About one random
 *          number in ten with such a prefix passes Luhn.
 *   IBAN   Upper-case country code from a table of 40 countries with its
 *          exact length, check digits, mod 97 == 1; compact or in groups of
 *          four separated by single spaces. Other countries are not found.
 *   TW_ID  Letter + 1 or 2 + 8 digits with the official checksum. Resident
 *          certificate numbers (second character A-D or 8/9) are not found.
 *   CN_ID  17 digits + digit or X (x), ISO 7064 mod 11-2, a province code
 *          11-82 and a real birth date from 1900 to 2099.
 *   SSN    Dashed "AAA-GG-SSSS" only, without the never-issued ranges (area
 *          000, 666, 900-999; group 00; serial 0000). Undashed nine-digit
 *          runs are not found: they are indistinguishable from other numbers.
 *   IP     IPv4 dotted quads of 0-255 without leading zeros, not part of a
 *          longer dotted run ("1.2.3.4.5") and not followed by "/prefix"
 *          (a network, not a host); loopback 127.x.x.x and 0.0.0.0 are
 *          left alone. A four-part version number written alone ("version
 *          1.2.3.4") is masked. IPv6 in full or "::" form, checked with
 *          inet_pton, with at least two groups ("::1" is not personal and
 *          is left alone).
 */
#ifndef RG_PII_H
#define RG_PII_H

#include <stddef.h>

#include "engine/base/buf.h"
#include "engine/base/status.h"

typedef enum rg_pii_type {
    RG_PII_EMAIL,
    RG_PII_PHONE,
    RG_PII_CARD,
    RG_PII_IBAN,
    RG_PII_TW_ID,
    RG_PII_CN_ID,
    RG_PII_SSN,
    RG_PII_IP,
    RG_PII_TYPE_COUNT
} rg_pii_type;

/* Bit sets of types for the `types` arguments. */
#define RG_PII_BIT(t) (1u << (t))
#define RG_PII_ALL    ((1u << RG_PII_TYPE_COUNT) - 1u)

/* Named limits of the detectors (bytes unless said otherwise). */
#define RG_PII_EMAIL_LOCAL_MAX  64
#define RG_PII_EMAIL_LABEL_MAX  63
#define RG_PII_EMAIL_DOMAIN_MAX 253
#define RG_PII_PHONE_DIGITS_MIN 8  /* international form, country code included */
#define RG_PII_PHONE_DIGITS_MAX 15 /* E.164 */
#define RG_PII_CARD_DIGITS_MIN  13
#define RG_PII_CARD_DIGITS_MAX  19
#define RG_PII_IBAN_MAX         34 /* characters without spaces */
#define RG_PII_IPV6_MAX         45 /* longest textual IPv6, INET6_ADDRSTRLEN - 1 */
/* Digit groups a phone or card number may be split into. */
#define RG_PII_GROUPS_MAX 8
/* Longest match of any type: an e-mail address of the longest parts. */
#define RG_PII_MATCH_MAX (RG_PII_EMAIL_LOCAL_MAX + 1 + RG_PII_EMAIL_DOMAIN_MAX)

typedef struct rg_pii_counts {
    size_t n[RG_PII_TYPE_COUNT];
} rg_pii_counts;

typedef struct rg_pii_match {
    rg_pii_type type;
    size_t start; /* byte offsets into the text, end exclusive */
    size_t end;
} rg_pii_match;

/* "email", "phone", "card", "iban", "tw_id", "cn_id", "ssn", "ip"; static. */
const char *rg_pii_type_name(rg_pii_type t);
/* "[EMAIL]", "[PHONE]", ...; static, ASCII, never longer than 7 bytes. */
const char *rg_pii_placeholder(rg_pii_type t);
/* The type named name (as rg_pii_type_name gives it), or -1. */
int rg_pii_type_from_name(const char *name);

/*
 * Finds the first match of one of `types` starting at or after byte `from`
 * of text[0..len). Returns 1 and fills *m, or 0 when there is none. Scanning
 * on from m->end finds the next match. text need not be NUL-terminated.
 */
int rg_pii_next(const char *text, size_t len, size_t from, unsigned types, rg_pii_match *m);

/*
 * Appends text[0..len) to out with every match of `types` replaced by its
 * placeholder, and adds the number of matches per type to *counts (may be
 * NULL; it is not cleared first). Bytes outside matches are copied as they
 * are, so valid UTF-8 stays valid. The output is at most len + len / 6 + 1
 * bytes (a placeholder is at most one byte longer than the shortest match).
 * Errors: RG_ELIMIT or RG_ENOMEM from out; out then holds a prefix of the
 * result and *counts the matches before it.
 */
rg_status rg_pii_mask(const char *text, size_t len, unsigned types, rg_buf *out,
                      rg_pii_counts *counts, rg_error *err);

/* Sum of all counts. */
size_t rg_pii_counts_total(const rg_pii_counts *c);

/*
 * Appends counts as a JSON object of the non-zero types, {"email":2,...}
 * ("{}" when all are zero). Errors as rg_buf_append.
 */
rg_status rg_pii_counts_json(const rg_pii_counts *c, rg_buf *out);

#endif
