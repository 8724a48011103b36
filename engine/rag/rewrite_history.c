/*
 * rewrite_history.c — a conversation read from an OpenAI-style messages
 * array. See rewrite.h.
 */
#include <string.h>

#include "engine/base/buf.h"
#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "engine/rag/rewrite.h"

/* The message's text into b: a string, text parts joined by line breaks, or null. */
static rg_status put_content(const cJSON *c, size_t i, rg_role role, rg_buf *b, rg_error *err)
{
    rg_status st = RG_OK;
    if (cJSON_IsString(c)) {
        st = rg_buf_puts(b, c->valuestring);
    } else if (cJSON_IsNull(c) && role == RG_ROLE_ASSISTANT) {
        /* an assistant turn that only called tools */
    } else if (cJSON_IsArray(c)) {
        const cJSON *part;
        cJSON_ArrayForEach(part, c)
        {
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
            const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0)
                continue; /* images and the like say nothing a search can use */
            if (!cJSON_IsString(text))
                return rg_fail(err, RG_EPARSE, "history[%zu]: a text part has no string \"text\"",
                               i);
            if (b->len) st = rg_buf_putc(b, '\n');
            if (!st) st = rg_buf_puts(b, text->valuestring);
            if (st) break;
        }
    } else {
        return rg_fail(err, RG_EPARSE, "history[%zu]: \"content\" must be a string", i);
    }
    if (st == RG_ELIMIT)
        return rg_fail(err, st, "history[%zu]: the content is longer than %u bytes", i,
                       RG_HISTORY_TURN_MAX_BYTES);
    return st ? rg_fail(err, st, "out of memory reading the history") : RG_OK;
}

/* The role of message i; *keep is 0 for one that is skipped (system). */
static rg_status read_role(const cJSON *m, size_t i, rg_role *role, int *keep, rg_error *err)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "role");
    *keep = 0;
    if (!cJSON_IsString(r))
        return rg_fail(err, RG_EPARSE, "history[%zu]: \"role\" is missing or not a string", i);
    if (!strcmp(r->valuestring, "system") || !strcmp(r->valuestring, "developer")) return RG_OK;
    if (strcmp(r->valuestring, "user") != 0 && strcmp(r->valuestring, "assistant") != 0)
        return rg_fail(err, RG_EINVAL,
                       "history[%zu]: the role is user, assistant or system, not '%.40s'", i,
                       r->valuestring);
    *role = strcmp(r->valuestring, "user") == 0 ? RG_ROLE_USER : RG_ROLE_ASSISTANT;
    *keep = 1;
    return RG_OK;
}

/*
 * Appends message i's content and a NUL to all (n turns there so far);
 * one is scratch. Checks the limits and UTF-8 as it goes.
 */
static rg_status read_turn(const cJSON *m, size_t i, rg_role role, size_t n, rg_buf *all,
                           rg_buf *one, rg_error *err)
{
    size_t bad;
    if (n == RG_HISTORY_MAX_TURNS)
        return rg_fail(err, RG_ELIMIT, "the history has more than %d turns", RG_HISTORY_MAX_TURNS);
    rg_buf_reset(one);
    rg_status st = put_content(cJSON_GetObjectItemCaseSensitive(m, "content"), i, role, one, err);
    if (st) return st;
    if (!rg_utf8_valid(rg_buf_str(one), one->len, &bad))
        return rg_fail(err, RG_EUTF8, "history[%zu] is not valid UTF-8 (byte %zu)", i, bad);
    if (all->len - n + one->len > RG_HISTORY_MAX_BYTES) /* all holds n NULs */
        return rg_fail(err, RG_ELIMIT, "the history is longer than %u bytes", RG_HISTORY_MAX_BYTES);
    st = rg_buf_append(all, rg_buf_str(one), one->len);
    if (!st) st = rg_buf_putc(all, '\0');
    return st ? rg_fail(err, st, "out of memory reading the history") : RG_OK;
}

rg_status rg_history_from_json(const cJSON *messages, rg_history *out, rg_error *err)
{
    size_t offs[RG_HISTORY_MAX_TURNS];
    rg_role roles[RG_HISTORY_MAX_TURNS];
    size_t n = 0, i = 0;
    rg_buf all, one;
    rg_buf_init(&all, RG_HISTORY_MAX_BYTES + RG_HISTORY_MAX_TURNS);
    rg_buf_init(&one, RG_HISTORY_TURN_MAX_BYTES);
    rg_status st = RG_OK;
    memset(out, 0, sizeof *out);
    if (!cJSON_IsArray(messages)) {
        st = rg_fail(err, RG_EPARSE, "the history is not a JSON array of messages");
        goto out;
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, messages)
    {
        rg_role role = RG_ROLE_USER;
        int keep;
        if (!cJSON_IsObject(m)) {
            st = rg_fail(err, RG_EPARSE, "history[%zu] is not an object", i);
            goto out;
        }
        if ((st = read_role(m, i, &role, &keep, err))) goto out;
        if (keep && (st = read_turn(m, i, role, n, &all, &one, err))) goto out;
        if (keep) {
            offs[n] = all.len - one.len - 1;
            roles[n++] = role;
        }
        i++;
    }
    out->turns = rg_calloc(n ? n : 1, sizeof *out->turns);
    out->text = rg_buf_steal(&all);
    if (!out->turns || (n && !out->text)) {
        st = rg_fail(err, RG_ENOMEM, "out of memory reading the history");
        goto out;
    }
    for (size_t k = 0; k < n; k++)
        out->turns[k] = (rg_turn){roles[k], out->text + offs[k]};
    out->n = n;
    st = rg_history_check(out->turns, out->n, err);
out:
    rg_buf_free(&all);
    rg_buf_free(&one);
    return st;
}

void rg_history_free(rg_history *h)
{
    if (!h) return;
    rg_free(h->turns);
    rg_free(h->text);
    memset(h, 0, sizeof *h);
}
