/*
 * pii.c — PII detectors and the masker (see pii.h for the rules).
 *
 * The scanner walks the text once. At each position that starts a word it
 * asks the detectors, most specific first (an e-mail address may contain
 * digits that look like a phone number, a mainland ID is 18 digits that
 * could pass as a card); the first that matches wins and the scan resumes
 * after the match. Each detector parses only ASCII and reads at most
 * RG_PII_MATCH_MAX bytes ahead.
 */
#include "ingest/pii.h"

#include <arpa/inet.h>
#include <string.h>

static const char *const type_names[RG_PII_TYPE_COUNT] = {
    "email", "phone", "card", "iban", "tw_id", "cn_id", "ssn", "ip",
};
static const char *const placeholders[RG_PII_TYPE_COUNT] = {
    "[EMAIL]", "[PHONE]", "[CARD]", "[IBAN]", "[TW_ID]", "[CN_ID]", "[SSN]", "[IP]",
};

const char *rg_pii_type_name(rg_pii_type t)
{
    return (unsigned)t < RG_PII_TYPE_COUNT ? type_names[t] : "?";
}

const char *rg_pii_placeholder(rg_pii_type t)
{
    return (unsigned)t < RG_PII_TYPE_COUNT ? placeholders[t] : "[PII]";
}

int rg_pii_type_from_name(const char *name)
{
    for (int t = 0; t < RG_PII_TYPE_COUNT; t++)
        if (strcmp(name, type_names[t]) == 0) return t;
    return -1;
}

/* ---- character classes (ASCII only, locale-free) ---- */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}
static int is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}
static int is_alpha(char c)
{
    return is_upper(c) || (c >= 'a' && c <= 'z');
}
static int is_alnum(char c)
{
    return is_alpha(c) || is_digit(c);
}
static int is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static int is_wordc(char c)
{
    return is_alnum(c) || c == '_';
}
static int is_joiner(char c)
{
    return c == '.' || c == '-' || c == '/' || c == ':' || c == ',';
}

/*
 * 1 if a match may start at i: the byte before is not a word byte, not a
 * '+' (that belongs to an international number), and not a joiner that
 * follows a digit ("1.2.3.4.5", "2024-0912...").
 */
static int left_ok(const char *s, size_t i)
{
    if (i == 0) return 1;
    char p = s[i - 1];
    if (is_wordc(p) || p == '+') return 0;
    if (is_joiner(p) && i >= 2 && is_digit(s[i - 2])) return 0;
    return 1;
}

/* 1 if a match may end at e: the mirror of left_ok. */
static int right_ok(const char *s, size_t len, size_t e)
{
    if (e >= len) return 1;
    char c = s[e];
    if (is_wordc(c)) return 0;
    if (is_joiner(c) && e + 1 < len && is_alnum(s[e + 1])) return 0;
    return 1;
}

/* ---- e-mail ---- */

static int is_local(char c)
{
    return is_alnum(c) || strchr("._%+-", c) != NULL;
}

static size_t match_email(const char *s, size_t len, size_t i)
{
    if (i > 0 && is_local(s[i - 1])) return 0;
    size_t p = i;
    while (p < len && p - i <= RG_PII_EMAIL_LOCAL_MAX && is_local(s[p]))
        p++;
    size_t local = p - i;
    if (p >= len || s[p] != '@' || local == 0 || local > RG_PII_EMAIL_LOCAL_MAX) return 0;
    if (s[i] == '.' || s[p - 1] == '.') return 0;
    for (size_t k = i; k + 1 < p; k++)
        if (s[k] == '.' && s[k + 1] == '.') return 0;
    size_t d = ++p, labels = 0, last = p;
    for (;;) {
        size_t l = p;
        while (p < len && p - l <= RG_PII_EMAIL_LABEL_MAX && (is_alnum(s[p]) || s[p] == '-'))
            p++;
        if (p == l || p - l > RG_PII_EMAIL_LABEL_MAX || s[l] == '-' || s[p - 1] == '-') return 0;
        if (p - d > RG_PII_EMAIL_DOMAIN_MAX) return 0;
        labels++;
        last = l;
        if (p + 1 < len && s[p] == '.' && is_alnum(s[p + 1])) {
            p++;
            continue;
        }
        break;
    }
    if (labels < 2 || p - last < 2) return 0;
    for (size_t k = last; k < p; k++)
        if (!is_alpha(s[k])) return 0;
    if (p < len && (is_wordc(s[p]) || s[p] == '-' || s[p] == '@')) return 0;
    return p - i;
}

/* ---- digit groups shared by cards and phones ---- */

typedef struct groups {
    size_t n;                       /* groups parsed */
    size_t end[RG_PII_GROUPS_MAX];  /* byte offset just after group k */
    size_t ndig[RG_PII_GROUPS_MAX]; /* digits in groups 0..k */
    size_t glen[RG_PII_GROUPS_MAX]; /* digits in group k */
    char dig[RG_PII_CARD_DIGITS_MAX + 2];
    int paren; /* the group written in parentheses, or -1 */
    int mixed; /* separators differ */
    int dot;   /* a '.' separator was used */
} groups;

#define GROUP_DIGITS_MAX (RG_PII_CARD_DIGITS_MAX + 1)

/*
 * Parses digit groups from i: digits, then one separator from seps (or none
 * after a closing parenthesis), then digits again. With parens, one group
 * may be written "(digits)". Stops before anything else, and after more
 * than GROUP_DIGITS_MAX digits (the last group is then dropped: a number
 * embedded in a longer run is no match).
 */
static void parse_groups(const char *s, size_t len, size_t i, const char *seps, int parens,
                         groups *g)
{
    size_t p = i, nd = 0;
    char sep = 0;
    g->n = 0;
    g->paren = -1;
    g->mixed = g->dot = 0;
    while (g->n < RG_PII_GROUPS_MAX) {
        int par = parens && g->paren < 0 && p < len && s[p] == '(';
        size_t start = p + (size_t)par;
        size_t q = start;
        while (q < len && is_digit(s[q]) && nd < GROUP_DIGITS_MAX)
            g->dig[nd++] = s[q++];
        if (q == start || (q < len && is_digit(s[q]))) return;
        g->glen[g->n] = q - start;
        if (par) {
            if (q >= len || s[q] != ')') return;
            q++;
            g->paren = (int)g->n;
        }
        g->end[g->n] = q;
        g->ndig[g->n] = nd;
        g->n++;
        p = q;
        char c = p < len ? s[p] : 0;
        int has_sep = c && strchr(seps, c) != NULL;
        if (!has_sep && !par) return;
        size_t next = p + (size_t)has_sep;
        if (!(next < len && (is_digit(s[next]) || (parens && g->paren < 0 && s[next] == '('))))
            return;
        if (has_sep) {
            if (sep && c != sep) g->mixed = 1;
            if (c == '.') g->dot = 1;
            sep = c;
        }
        p = next;
    }
}

/* ---- payment cards ---- */

static int luhn_ok(const char *d, size_t n)
{
    unsigned sum = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned v = (unsigned)(d[n - 1 - k] - '0');
        if (k & 1) v = v * 2 > 9 ? v * 2 - 9 : v * 2;
        sum += v;
    }
    return sum % 10 == 0;
}

static int card_prefix_ok(const char *d, size_t n)
{
    int two = (d[0] - '0') * 10 + (d[1] - '0');
    switch (d[0]) {
    case '4':
        return n == 13 || n == 16 || n == 19;
    case '5':
        return two >= 51 && two <= 55 && n == 16;
    case '2':
        return two >= 22 && two <= 27 && n == 16;
    case '3':
        if (two == 34 || two == 37) return n == 15;
        if (two == 30 || two == 36 || two == 38) return n >= 14 && n <= 19;
        return two == 35 && n >= 16;
    case '6':
        return n >= 16;
    default:
        return 0;
    }
}

/*
 * 1 if the 18 digits d look like a mainland ID (province and birth date) that
 * failed its checksum: a mistyped ID, not a card.
 */
static int date_ok(const char *d);
static int cn_id_shaped(const char *d, size_t n)
{
    int prov = (d[0] - '0') * 10 + (d[1] - '0');
    return n == 18 && prov >= 11 && prov <= 82 && date_ok(d + 6);
}

static size_t match_card(const char *s, size_t len, size_t i)
{
    groups g;
    parse_groups(s, len, i, " -", 0, &g);
    if (g.mixed) return 0;
    for (size_t k = g.n; k-- > 0;) {
        size_t nd = g.ndig[k];
        if (nd < RG_PII_CARD_DIGITS_MIN || nd > RG_PII_CARD_DIGITS_MAX) continue;
        if (k > 0 && g.glen[0] < 3) return 0; /* "12 3456..." is not how cards are grouped */
        if (!right_ok(s, len, g.end[k])) continue;
        if (card_prefix_ok(g.dig, nd) && luhn_ok(g.dig, nd) && !(k == 0 && cn_id_shaped(g.dig, nd)))
            return g.end[k] - i;
    }
    return 0;
}

/* ---- phones ---- */

static int tw_national_ok(const char *d, size_t n)
{
    if (n == 9 && d[0] == '9') return 1;                     /* mobile */
    return (n == 8 || n == 9) && d[0] >= '2' && d[0] <= '8'; /* landline */
}

static int cn_national_ok(const char *d, size_t n)
{
    if (n == 11 && d[0] == '1') return d[1] >= '3' && d[1] <= '9'; /* mobile */
    if (n < 9 || n > 11) return 0;
    return (d[0] >= '2' && d[0] <= '9') || (d[0] == '1' && d[1] == '0'); /* 10 is Beijing */
}

static size_t match_intl_phone(const char *s, size_t len, size_t i)
{
    if (i + 1 >= len || !is_digit(s[i + 1]) || s[i + 1] == '0') return 0;
    groups g;
    parse_groups(s, len, i + 1, " -.", 1, &g);
    for (size_t k = g.n; k-- > 0;) {
        size_t nd = g.ndig[k];
        if (nd < RG_PII_PHONE_DIGITS_MIN || nd > RG_PII_PHONE_DIGITS_MAX) continue;
        if (!right_ok(s, len, g.end[k])) continue;
        int ok;
        if (memcmp(g.dig, "886", 3) == 0)
            ok = tw_national_ok(g.dig + 3, nd - 3);
        else if (memcmp(g.dig, "86", 2) == 0)
            ok = cn_national_ok(g.dig + 2, nd - 2);
        else
            ok = g.n == 1 || g.glen[0] <= 3 || g.paren == 0; /* country code first */
        if (ok) return g.end[k] - i;
    }
    return 0;
}

static size_t match_phone(const char *s, size_t len, size_t i)
{
    if (s[i] == '+') return match_intl_phone(s, len, i);
    groups g;
    parse_groups(s, len, i, " -.", 1, &g);
    for (size_t k = g.n; k-- > 0;) {
        size_t nd = g.ndig[k];
        const char *d = g.dig;
        if (!right_ok(s, len, g.end[k])) continue;
        if (nd == 10 && d[0] == '0' && d[1] == '9' && g.paren < 0 && (k == 0 || g.glen[0] == 4))
            return g.end[k] - i; /* Taiwan mobile */
        if (nd == 11 && d[0] == '1' && d[1] >= '3' && d[1] <= '9' && g.paren < 0 &&
            (k == 0 || (k == 2 && g.glen[0] == 3 && g.glen[1] == 4)))
            return g.end[k] - i; /* mainland mobile */
        if (nd >= 9 && nd <= 12 && d[0] == '0' && d[1] >= '1' && d[1] <= '8' && k >= 1 && !g.dot &&
            !g.mixed && (g.paren < 0 || g.paren == 0) && g.glen[0] >= 2 && g.glen[0] <= 4 &&
            nd - g.glen[0] >= 6 && nd - g.glen[0] <= 8)
            return g.end[k] - i; /* landline with area code */
    }
    return 0;
}

/* ---- IBAN ---- */

static const struct {
    char cc[3];
    unsigned char len;
} iban_lengths[] = {
    {"AD", 24}, {"AE", 23}, {"AT", 20}, {"BE", 16}, {"BG", 22}, {"BH", 22}, {"BR", 29}, {"CH", 21},
    {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DK", 18}, {"EE", 20}, {"ES", 24}, {"FI", 18}, {"FR", 27},
    {"GB", 22}, {"GR", 27}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IS", 26}, {"IT", 27},
    {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21}, {"MC", 27}, {"MT", 31}, {"NL", 18}, {"NO", 15},
    {"PL", 28}, {"PT", 25}, {"RO", 24}, {"SA", 24}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"TR", 26},
};

static size_t iban_length(const char *cc)
{
    for (size_t k = 0; k < sizeof iban_lengths / sizeof iban_lengths[0]; k++)
        if (iban_lengths[k].cc[0] == cc[0] && iban_lengths[k].cc[1] == cc[1])
            return iban_lengths[k].len;
    return 0;
}

/* 1 if the IBAN chars c[0..n) (upper case, no spaces) have mod 97 == 1. */
static int iban_mod97_ok(const char *c, size_t n)
{
    unsigned rem = 0;
    for (size_t k = 0; k < n; k++) {
        char ch = c[(k + 4) % n];
        if (is_digit(ch))
            rem = (rem * 10 + (unsigned)(ch - '0')) % 97;
        else
            rem = (rem * 100 + (unsigned)(ch - 'A' + 10)) % 97;
    }
    return rem == 1;
}

static size_t match_iban(const char *s, size_t len, size_t i)
{
    if (i + 4 > len || !is_upper(s[i]) || !is_upper(s[i + 1]) || !is_digit(s[i + 2]) ||
        !is_digit(s[i + 3]))
        return 0;
    size_t want = iban_length(s + i);
    if (!want) return 0;
    char c[RG_PII_IBAN_MAX];
    size_t n = 0, p = i;
    while (n < want && p < len) {
        if (n > 0 && n % 4 == 0 && s[p] == ' ' && p + 1 < len && is_alnum(s[p + 1])) p++;
        if (!is_digit(s[p]) && !is_upper(s[p])) return 0;
        c[n++] = s[p++];
    }
    if (n != want || !right_ok(s, len, p)) return 0;
    return iban_mod97_ok(c, n) ? p - i : 0;
}

/* ---- national IDs ---- */

/* Taiwan's letter codes, A..Z. */
static const unsigned char tw_letter[26] = {
    10, 11, 12, 13, 14, 15, 16, 17, 34, 18, 19, 20, 21,
    22, 35, 23, 24, 25, 26, 27, 28, 29, 32, 30, 31, 33,
};

static size_t match_tw_id(const char *s, size_t len, size_t i)
{
    if (i + 10 > len || !is_upper(s[i]) || (s[i + 1] != '1' && s[i + 1] != '2')) return 0;
    for (size_t k = 2; k < 10; k++)
        if (!is_digit(s[i + k])) return 0;
    if (!right_ok(s, len, i + 10)) return 0;
    unsigned code = tw_letter[s[i] - 'A'];
    unsigned sum = code / 10 + (code % 10) * 9;
    for (size_t k = 1; k < 9; k++)
        sum += (unsigned)(s[i + k] - '0') * (unsigned)(9 - k);
    sum += (unsigned)(s[i + 9] - '0');
    return sum % 10 == 0 ? 10 : 0;
}

static int leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int date_ok(const char *d)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = 0, m, day;
    for (int k = 0; k < 4; k++)
        y = y * 10 + (d[k] - '0');
    m = (d[4] - '0') * 10 + (d[5] - '0');
    day = (d[6] - '0') * 10 + (d[7] - '0');
    if (y < 1900 || y > 2099 || m < 1 || m > 12 || day < 1 || day > mdays[m - 1]) return 0;
    return !(m == 2 && day == 29 && !leap(y));
}

static size_t match_cn_id(const char *s, size_t len, size_t i)
{
    static const unsigned w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    static const char check[] = "10X98765432";
    if (i + 18 > len) return 0;
    unsigned sum = 0;
    for (size_t k = 0; k < 17; k++) {
        if (!is_digit(s[i + k])) return 0;
        sum += (unsigned)(s[i + k] - '0') * w[k];
    }
    char last = s[i + 17] == 'x' ? 'X' : s[i + 17];
    int prov = (s[i] - '0') * 10 + (s[i + 1] - '0');
    if (last != check[sum % 11] || prov < 11 || prov > 82 || !date_ok(s + i + 6)) return 0;
    return right_ok(s, len, i + 18) ? 18 : 0;
}

/* ---- US SSN ---- */

static size_t match_ssn(const char *s, size_t len, size_t i)
{
    static const char shape[] = "ddd-dd-dddd";
    if (i + 11 > len) return 0;
    for (size_t k = 0; k < 11; k++)
        if (shape[k] == 'd' ? !is_digit(s[i + k]) : s[i + k] != '-') return 0;
    if (!right_ok(s, len, i + 11)) return 0;
    const char *a = s + i;
    if (memcmp(a, "000", 3) == 0 || memcmp(a, "666", 3) == 0 || a[0] == '9') return 0;
    if (memcmp(a + 4, "00", 2) == 0 || memcmp(a + 7, "0000", 4) == 0) return 0;
    return 11;
}

/* ---- IP addresses ---- */

static size_t match_ipv4(const char *s, size_t len, size_t i)
{
    size_t p = i;
    unsigned first = 0, sum = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (p >= len || s[p] != '.') return 0;
            p++;
        }
        size_t st = p;
        unsigned v = 0;
        while (p < len && is_digit(s[p]) && p - st < 3)
            v = v * 10 + (unsigned)(s[p++] - '0');
        if (p == st || v > 255 || (s[st] == '0' && p - st > 1)) return 0;
        if (p < len && is_digit(s[p])) return 0;
        if (part == 0) first = v;
        sum += v;
    }
    if (first == 127 || sum == 0) return 0; /* loopback and "any": no one's address */
    if (p + 1 < len && s[p] == ':' && is_digit(s[p + 1])) return p - i; /* a port */
    return right_ok(s, len, p) ? p - i : 0;
}

static size_t match_ipv6(const char *s, size_t len, size_t i)
{
    size_t p = i, colons = 0;
    while (p < len && p - i < RG_PII_IPV6_MAX + 1 && (is_hex(s[p]) || s[p] == ':' || s[p] == '.'))
        colons += s[p++] == ':';
    if (colons < 2 || p - i > RG_PII_IPV6_MAX) return 0;
    while (p > i && (s[p - 1] == '.' || (s[p - 1] == ':' && !(p - i >= 2 && s[p - 2] == ':'))))
        p--;
    if (p < len && (is_wordc(s[p]) || s[p] == ':')) return 0;
    char a[RG_PII_IPV6_MAX + 1];
    memcpy(a, s + i, p - i);
    a[p - i] = 0;
    unsigned char bin[16];
    if (inet_pton(AF_INET6, a, bin) != 1) return 0;
    size_t groups = 0;
    for (size_t k = 0; k < p - i; k++)
        if (is_hex(a[k]) && (k == 0 || a[k - 1] == ':')) groups++;
    return groups >= 2 ? p - i : 0;
}

/* ---- the scanner ---- */

/* Length of the match of a wanted type starting at i (0 if none), its type in *t. */
static size_t match_at(const char *s, size_t len, size_t i, unsigned types, rg_pii_type *t)
{
#define TRY(type, call)                                                                            \
    if (types & RG_PII_BIT(type)) {                                                                \
        size_t n_ = (call);                                                                        \
        if (n_) {                                                                                  \
            *t = (type);                                                                           \
            return n_;                                                                             \
        }                                                                                          \
    }
    char c = s[i];
    if (is_local(c) && c != '.') TRY(RG_PII_EMAIL, match_email(s, len, i));
    if (!left_ok(s, i)) return 0;
    if (c == '+' || c == '(') {
        TRY(RG_PII_PHONE, match_phone(s, len, i));
        return 0;
    }
    if (c == ':') {
        TRY(RG_PII_IP, match_ipv6(s, len, i));
        return 0;
    }
    if (is_upper(c)) {
        TRY(RG_PII_IBAN, match_iban(s, len, i));
        TRY(RG_PII_TW_ID, match_tw_id(s, len, i));
    }
    if (is_digit(c)) {
        TRY(RG_PII_CN_ID, match_cn_id(s, len, i));
        TRY(RG_PII_CARD, match_card(s, len, i));
        TRY(RG_PII_SSN, match_ssn(s, len, i));
        TRY(RG_PII_IP, match_ipv4(s, len, i));
        TRY(RG_PII_PHONE, match_phone(s, len, i));
    }
    if (is_hex(c)) TRY(RG_PII_IP, match_ipv6(s, len, i));
    return 0;
#undef TRY
}

int rg_pii_next(const char *text, size_t len, size_t from, unsigned types, rg_pii_match *m)
{
    for (size_t i = from; i < len; i++) {
        char c = text[i];
        if (!is_alnum(c) && c != '+' && c != '(' && c != ':' && !is_local(c)) continue;
        if (i > 0 && is_alnum(text[i - 1])) continue; /* inside a word */
        rg_pii_type t;
        size_t n = match_at(text, len, i, types, &t);
        if (n) {
            *m = (rg_pii_match){t, i, i + n};
            return 1;
        }
    }
    return 0;
}

rg_status rg_pii_mask(const char *text, size_t len, unsigned types, rg_buf *out,
                      rg_pii_counts *counts, rg_error *err)
{
    rg_status st;
    rg_pii_match m;
    size_t at = 0;
    while (rg_pii_next(text, len, at, types, &m)) {
        if ((st = rg_buf_append(out, text + at, m.start - at)) ||
            (st = rg_buf_puts(out, placeholders[m.type])))
            return rg_fail(err, st, "masking personal data: %s", rg_strerror(st));
        if (counts) counts->n[m.type]++;
        at = m.end;
    }
    if ((st = rg_buf_append(out, text + at, len - at)))
        return rg_fail(err, st, "masking personal data: %s", rg_strerror(st));
    return RG_OK;
}

size_t rg_pii_counts_total(const rg_pii_counts *c)
{
    size_t n = 0;
    for (int t = 0; t < RG_PII_TYPE_COUNT; t++)
        n += c->n[t];
    return n;
}

rg_status rg_pii_counts_json(const rg_pii_counts *c, rg_buf *out)
{
    rg_status st = rg_buf_putc(out, '{');
    const char *sep = "";
    for (int t = 0; t < RG_PII_TYPE_COUNT && !st; t++) {
        if (!c->n[t]) continue;
        st = rg_buf_printf(out, "%s\"%s\":%zu", sep, type_names[t], c->n[t]);
        sep = ",";
    }
    return st ? st : rg_buf_putc(out, '}');
}
