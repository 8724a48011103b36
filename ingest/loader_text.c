/*
 * loader_text.c — plain text: paragraphs separated by blank lines.
 *
 * Plain text has no markup for structure, so the only structure kept is the
 * paragraph. Blocks point straight into the input (lines of a paragraph are
 * joined by the builder's white-space collapsing), so nothing is copied here.
 */
#include "ingest/loader.h"

static const char *const text_exts[] = {"txt", "text", NULL};

static int text_can_load(const char *path, const char *data, size_t n)
{
    if (rg_path_has_ext(path, text_exts)) return 1;
    /* README, LICENSE...: text unless it is HTML */
    return rg_path_has_no_ext(path) && !rg_loader_html.can_load(NULL, data, n);
}

static int is_blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\f' && line[i] != '\v') return 0;
    return 1;
}

static rg_status text_load(const char *path, const char *data, size_t n, rg_doc_builder *b,
                           rg_error *err)
{
    (void)path;
    rg_status st = rg_loader_check_utf8(data, n, err);
    if (st) return st;
    size_t pos = rg_loader_bom_len(data, n);
    const char *line, *para = NULL;
    size_t len, para_end = 0, para_lines = 0;
    int first = 1;
    for (;;) {
        int more = rg_next_line(data, n, &pos, &line, &len);
        if (more && !is_blank(line, len)) {
            if (!para) para = line;
            para_end = (size_t)(line - data) + len;
            para_lines++;
            continue;
        }
        if (para) {
            size_t plen = para_end - (size_t)(para - data);
            if (first && para_lines == 1 && plen <= RG_TEXT_TITLE_MAX_BYTES)
                st = rg_doc_set_title(b, para, plen, err);
            if (st == RG_OK) st = rg_doc_add(b, RG_BLOCK_PARAGRAPH, 0, para, plen, err);
            if (st) return st;
            first = 0;
            para = NULL;
            para_lines = 0;
        }
        if (!more) return RG_OK;
    }
}

const rg_loader rg_loader_text = {"text", "text/plain", text_can_load, text_load, 1};
