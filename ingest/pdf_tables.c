/*
 * pdf_tables.c — base encodings, glyph names and standard widths.
 *
 * Written from PDF 32000-1 Annex D (character sets and encodings), the
 * Adobe Glyph List naming conventions (uniXXXX, uXXXXX, ligatures joined by
 * '_', suffixes after '.') and the Adobe Core 14 font metrics.
 */
#include "ingest/pdf_tables.h"

#include <string.h>

#include "engine/base/utf8.h"

/* --- base encodings ------------------------------------------------------------ */

/* WinAnsiEncoding 0x80..0x9F (Windows-1252); 0xA0..0xFF are Latin-1. */
static const uint16_t winansi_80[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

/* MacRomanEncoding 0x80..0xFF. */
static const uint16_t macroman_80[128] = {
    0x00C4, 0x00C5, 0x00C7, 0x00C9, 0x00D1, 0x00D6, 0x00DC, 0x00E1, 0x00E0, 0x00E2, 0x00E4, 0x00E3,
    0x00E5, 0x00E7, 0x00E9, 0x00E8, 0x00EA, 0x00EB, 0x00ED, 0x00EC, 0x00EE, 0x00EF, 0x00F1, 0x00F3,
    0x00F2, 0x00F4, 0x00F6, 0x00F5, 0x00FA, 0x00F9, 0x00FB, 0x00FC, 0x2020, 0x00B0, 0x00A2, 0x00A3,
    0x00A7, 0x2022, 0x00B6, 0x00DF, 0x00AE, 0x00A9, 0x2122, 0x00B4, 0x00A8, 0x2260, 0x00C6, 0x00D8,
    0x221E, 0x00B1, 0x2264, 0x2265, 0x00A5, 0x00B5, 0x2202, 0x2211, 0x220F, 0x03C0, 0x222B, 0x00AA,
    0x00BA, 0x03A9, 0x00E6, 0x00F8, 0x00BF, 0x00A1, 0x00AC, 0x221A, 0x0192, 0x2248, 0x2206, 0x00AB,
    0x00BB, 0x2026, 0x00A0, 0x00C0, 0x00C3, 0x00D5, 0x0152, 0x0153, 0x2013, 0x2014, 0x201C, 0x201D,
    0x2018, 0x2019, 0x00F7, 0x25CA, 0x00FF, 0x0178, 0x2044, 0x00A4, 0x2039, 0x203A, 0xFB01, 0xFB02,
    0x2021, 0x00B7, 0x201A, 0x201E, 0x2030, 0x00C2, 0x00CA, 0x00C1, 0x00CB, 0x00C8, 0x00CD, 0x00CE,
    0x00CF, 0x00CC, 0x00D3, 0x00D4, 0,      0x00D2, 0x00DA, 0x00DB, 0x00D9, 0x0131, 0x02C6, 0x02DC,
    0x00AF, 0x02D8, 0x02D9, 0x02DA, 0x00B8, 0x02DD, 0x02DB, 0x02C7};

/* StandardEncoding 0xA0..0xFF (below that it is ASCII but for 0x27 and 0x60). */
static const uint16_t standard_a0[96] = {
    0,      0x00A1, 0x00A2, 0x00A3, 0x2044, 0x00A5, 0x0192, 0x00A7, 0x00A4, 0x0027, 0x201C, 0x00AB,
    0x2039, 0x203A, 0xFB01, 0xFB02, 0,      0x2013, 0x2020, 0x2021, 0x00B7, 0,      0x00B6, 0x2022,
    0x201A, 0x201E, 0x201D, 0x00BB, 0x2026, 0x2030, 0,      0x00BF, 0,      0x0060, 0x00B4, 0x02C6,
    0x02DC, 0x00AF, 0x02D8, 0x02D9, 0x00A8, 0,      0x02DA, 0x00B8, 0,      0x02DD, 0x02DB, 0x02C7,
    0x2014, 0,      0,      0,      0,      0,      0,      0,      0,      0,      0,      0,
    0,      0,      0,      0,      0,      0x00C6, 0,      0x00AA, 0,      0,      0,      0,
    0x0141, 0x00D8, 0x0152, 0x00BA, 0,      0,      0,      0,      0,      0x00E6, 0,      0,
    0,      0x0131, 0,      0,      0x0142, 0x00F8, 0x0153, 0x00DF, 0,      0,      0,      0};

uint32_t rg_pdf_encoding_cp(rg_pdf_encoding enc, unsigned code)
{
    if (code > 0xFF || enc == RG_PDF_ENC_NONE) return 0;
    if (code < 0x20 || code == 0x7F) return 0;
    if (code < 0x7F) {
        if (enc == RG_PDF_ENC_STANDARD && code == 0x27) return 0x2019;
        if (enc == RG_PDF_ENC_STANDARD && code == 0x60) return 0x2018;
        return code;
    }
    switch (enc) {
    case RG_PDF_ENC_WINANSI:
        return code < 0xA0 ? winansi_80[code - 0x80] : code;
    case RG_PDF_ENC_MACROMAN:
        return macroman_80[code - 0x80];
    case RG_PDF_ENC_STANDARD:
        return code < 0xA0 ? 0 : standard_a0[code - 0xA0];
    case RG_PDF_ENC_NONE:
        break;
    }
    return 0;
}

/* --- glyph names ------------------------------------------------------------------ */

typedef struct glyph_name {
    const char *name;
    uint16_t cp;
} glyph_name;

/* Names that are not a single letter, an accented letter or a uniXXXX form. */
static const glyph_name glyph_names[] = {
    {"space", 0x20},
    {"exclam", 0x21},
    {"quotedbl", 0x22},
    {"numbersign", 0x23},
    {"dollar", 0x24},
    {"percent", 0x25},
    {"ampersand", 0x26},
    {"quotesingle", 0x27},
    {"parenleft", 0x28},
    {"parenright", 0x29},
    {"asterisk", 0x2A},
    {"plus", 0x2B},
    {"comma", 0x2C},
    {"hyphen", 0x2D},
    {"period", 0x2E},
    {"slash", 0x2F},
    {"zero", 0x30},
    {"one", 0x31},
    {"two", 0x32},
    {"three", 0x33},
    {"four", 0x34},
    {"five", 0x35},
    {"six", 0x36},
    {"seven", 0x37},
    {"eight", 0x38},
    {"nine", 0x39},
    {"colon", 0x3A},
    {"semicolon", 0x3B},
    {"less", 0x3C},
    {"equal", 0x3D},
    {"greater", 0x3E},
    {"question", 0x3F},
    {"at", 0x40},
    {"bracketleft", 0x5B},
    {"backslash", 0x5C},
    {"bracketright", 0x5D},
    {"asciicircum", 0x5E},
    {"underscore", 0x5F},
    {"grave", 0x60},
    {"braceleft", 0x7B},
    {"bar", 0x7C},
    {"braceright", 0x7D},
    {"asciitilde", 0x7E},
    {"quoteleft", 0x2018},
    {"quoteright", 0x2019},
    {"quotedblleft", 0x201C},
    {"quotedblright", 0x201D},
    {"quotesinglbase", 0x201A},
    {"quotedblbase", 0x201E},
    {"guillemotleft", 0xAB},
    {"guillemotright", 0xBB},
    {"guilsinglleft", 0x2039},
    {"guilsinglright", 0x203A},
    {"endash", 0x2013},
    {"emdash", 0x2014},
    {"bullet", 0x2022},
    {"ellipsis", 0x2026},
    {"dagger", 0x2020},
    {"daggerdbl", 0x2021},
    {"perthousand", 0x2030},
    {"trademark", 0x2122},
    {"copyright", 0xA9},
    {"registered", 0xAE},
    {"degree", 0xB0},
    {"Euro", 0x20AC},
    {"euro", 0x20AC},
    {"cent", 0xA2},
    {"sterling", 0xA3},
    {"yen", 0xA5},
    {"currency", 0xA4},
    {"florin", 0x192},
    {"section", 0xA7},
    {"paragraph", 0xB6},
    {"periodcentered", 0xB7},
    {"exclamdown", 0xA1},
    {"questiondown", 0xBF},
    {"ordfeminine", 0xAA},
    {"ordmasculine", 0xBA},
    {"brokenbar", 0xA6},
    {"logicalnot", 0xAC},
    {"plusminus", 0xB1},
    {"multiply", 0xD7},
    {"divide", 0xF7},
    {"onehalf", 0xBD},
    {"onequarter", 0xBC},
    {"threequarters", 0xBE},
    {"onesuperior", 0xB9},
    {"twosuperior", 0xB2},
    {"threesuperior", 0xB3},
    {"mu", 0xB5},
    {"minus", 0x2212},
    {"fraction", 0x2044},
    {"nbspace", 0xA0},
    {"sfthyphen", 0xAD},
    {"acute", 0xB4},
    {"circumflex", 0x2C6},
    {"tilde", 0x2DC},
    {"dieresis", 0xA8},
    {"macron", 0xAF},
    {"breve", 0x2D8},
    {"dotaccent", 0x2D9},
    {"ring", 0x2DA},
    {"cedilla", 0xB8},
    {"hungarumlaut", 0x2DD},
    {"ogonek", 0x2DB},
    {"caron", 0x2C7},
    {"AE", 0xC6},
    {"ae", 0xE6},
    {"OE", 0x152},
    {"oe", 0x153},
    {"Oslash", 0xD8},
    {"oslash", 0xF8},
    {"germandbls", 0xDF},
    {"dotlessi", 0x131},
    {"Lslash", 0x141},
    {"lslash", 0x142},
    {"Eth", 0xD0},
    {"eth", 0xF0},
    {"Thorn", 0xDE},
    {"thorn", 0xFE},
    {"Dcroat", 0x110},
    {"dcroat", 0x111},
    {"fi", 0xFB01},
    {"fl", 0xFB02},
    {"ff", 0xFB00},
    {"ffi", 0xFB03},
    {"ffl", 0xFB04},
};

/* Accented letters are a letter and one of these suffixes: "eacute", "Scaron". */
static const glyph_name accents[] = {
    {"acute", 0x301},        {"grave", 0x300},       {"circumflex", 0x302}, {"tilde", 0x303},
    {"dieresis", 0x308},     {"ring", 0x30A},        {"cedilla", 0x327},    {"caron", 0x30C},
    {"macron", 0x304},       {"breve", 0x306},       {"ogonek", 0x328},     {"dotaccent", 0x307},
    {"hungarumlaut", 0x30B}, {"commaaccent", 0x326},
};

static int is_ascii_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Appends cp to out[*len] if it fits RG_PDF_GLYPH_TEXT_MAX; 0 when it does not. */
static int put_cp(uint32_t cp, char *out, size_t *len)
{
    char tmp[4];
    size_t k = rg_utf8_encode(cp, tmp);
    if (!k || *len + k > RG_PDF_GLYPH_TEXT_MAX) return 0;
    memcpy(out + *len, tmp, k);
    *len += k;
    return 1;
}

/* uniXXXX[YYYY...] (BMP, 4 hex digits each) or uXXXX..uXXXXXX. */
static int hex_name(const char *s, size_t n, char *out, size_t *len)
{
    if (n >= 7 && memcmp(s, "uni", 3) == 0 && (n - 3) % 4 == 0) {
        for (size_t i = 3; i < n; i += 4) {
            uint32_t cp = 0;
            for (size_t j = i; j < i + 4; j++) {
                int v = hex_digit(s[j]);
                if (v < 0) return 0;
                cp = cp * 16 + (uint32_t)v;
            }
            if ((cp >= 0xD800 && cp <= 0xDFFF) || !put_cp(cp, out, len)) return 0;
        }
        return 1;
    }
    if (n >= 5 && n <= 7 && s[0] == 'u') {
        uint32_t cp = 0;
        for (size_t j = 1; j < n; j++) {
            int v = hex_digit(s[j]);
            if (v < 0) return 0;
            cp = cp * 16 + (uint32_t)v;
        }
        return cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF) && put_cp(cp, out, len);
    }
    return 0;
}

/* One component of a glyph name (no '_' or '.'), appended to out. */
static int component(const char *s, size_t n, char *out, size_t *len)
{
    if (n == 1 && is_ascii_letter(s[0])) return put_cp((unsigned char)s[0], out, len);
    for (size_t i = 0; i < sizeof glyph_names / sizeof glyph_names[0]; i++)
        if (strlen(glyph_names[i].name) == n && memcmp(glyph_names[i].name, s, n) == 0)
            return put_cp(glyph_names[i].cp, out, len);
    if (n > 1 && is_ascii_letter(s[0])) {
        for (size_t i = 0; i < sizeof accents / sizeof accents[0]; i++) {
            if (strlen(accents[i].name) != n - 1 || memcmp(accents[i].name, s + 1, n - 1) != 0)
                continue;
            uint32_t mark = accents[i].cp;
            /* Ģ Ķ Ļ Ņ Ŗ carry a cedilla in Unicode, Ș Ț a comma below */
            if (mark == 0x326 && strchr("GgKkLlNnRr", s[0])) mark = 0x327;
            return put_cp((unsigned char)s[0], out, len) && put_cp(mark, out, len);
        }
    }
    return hex_name(s, n, out, len);
}

size_t rg_pdf_glyph_text(const char *name, char *out)
{
    size_t n = strcspn(name, "."); /* "a.sc", "one.oldstyle": the part before the dot */
    size_t len = 0;
    for (size_t i = 0; i < n;) {
        size_t k = i;
        while (k < n && name[k] != '_')
            k++;
        if (k > i && !component(name + i, k - i, out, &len)) return 0;
        i = k + 1;
    }
    return len;
}

/* --- standard metrics ----------------------------------------------------------- */

/* Widths of ASCII 0x20..0x7E in the Core 14 Helvetica and Times-Roman (glyph units). */
static const uint16_t helvetica_w[95] = {
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333,  278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
    611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667,  611, 722, 667, 944, 667,
    667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278,  556, 556, 222, 222, 500,
    222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500,  500, 334, 260, 334, 584};
static const uint16_t times_w[95] = {
    250, 333, 408, 500, 500, 833, 778, 180, 333, 333, 500, 564, 250, 333, 250, 278, 500, 500, 500,
    500, 500, 500, 500, 500, 500, 500, 278, 278, 564, 564, 564, 444, 921, 722, 667, 667, 722, 611,
    556, 722, 722, 333, 389, 722, 611, 889, 722, 722, 556, 722, 667, 556, 611, 722, 722, 944, 722,
    722, 611, 333, 278, 333, 469, 500, 333, 444, 500, 444, 500, 444, 333, 500, 500, 278, 278, 500,
    278, 778, 500, 500, 500, 500, 333, 389, 278, 500, 500, 722, 500, 500, 444, 480, 200, 480, 541};

rg_pdf_metrics rg_pdf_metrics_for(const char *base_font)
{
    if (!base_font) return RG_PDF_METRICS_HELVETICA;
    if (strstr(base_font, "Courier") || strstr(base_font, "Mono")) return RG_PDF_METRICS_COURIER;
    if (strstr(base_font, "Times") || (strstr(base_font, "Serif") && !strstr(base_font, "Sans")))
        return RG_PDF_METRICS_TIMES;
    return RG_PDF_METRICS_HELVETICA;
}

double rg_pdf_metrics_width(rg_pdf_metrics m, uint32_t cp)
{
    if (m == RG_PDF_METRICS_COURIER) return 600;
    const uint16_t *w = m == RG_PDF_METRICS_TIMES ? times_w : helvetica_w;
    if (cp >= 0x20 && cp <= 0x7E) return w[cp - 0x20];
    return m == RG_PDF_METRICS_TIMES ? 500 : 556;
}
