/*
 * lexical_refresh.c — the BM25 index brought up to date with its FTS5
 * table after writes, in two ways.
 *
 * rg_lexical_update (cheap, for a service taking writes): rows above the
 * last id read are new (rowids are chunk ids and only grow) and are
 * tokenized into the delta, their postings appended to its lists (the
 * impacts use the main index's average length, fixed until the merge, so
 * older postings stay as they are); chunks the caller names as deleted are
 * masked. When the delta or the masked chunks pass RG_LEX_DELTA_MIN and
 * 1 / RG_LEX_DELTA_DIV of the main index, both are merged into it.
 *
 * rg_lexical_refresh (exact): deletions found by comparing every rowid,
 * then the same, always merged.
 *
 * The merge copies the postings once with their term frequencies
 * (recovered exactly from the impacts, or else the index is rebuilt from
 * the table) and recomputes every impact for the new average length, so
 * the merged index is the one a fresh build would give.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/base/mem.h"
#include "index/lexical.h"
#include "index/lexical_impl.h"

/* Exchanges the index arrays of a and b. */
static void swap_index(rg_lexical *a, rg_lexical *b)
{
#define SWAP_FIELD(f)                                                                              \
    do {                                                                                           \
        __typeof__(a->f) t_ = a->f;                                                                \
        a->f = b->f;                                                                               \
        b->f = t_;                                                                                 \
    } while (0)
    SWAP_FIELD(n_docs);
    SWAP_FIELD(n_main);
    SWAP_FIELD(cap_docs);
    SWAP_FIELD(chunk_ids);
    SWAP_FIELD(n_terms);
    SWAP_FIELD(n_main_terms);
    SWAP_FIELD(pool);
    SWAP_FIELD(term_off);
    SWAP_FIELD(post_off);
    SWAP_FIELD(post);
    SWAP_FIELD(post_max);
    SWAP_FIELD(dl);
    SWAP_FIELD(total);
    SWAP_FIELD(avgdl);
    SWAP_FIELD(slots);
    SWAP_FIELD(slot_mask);
    SWAP_FIELD(acc);
    SWAP_FIELD(touched);
    SWAP_FIELD(cand);
    SWAP_FIELD(cand_tmp);
    SWAP_FIELD(exhaustive);
    SWAP_FIELD(delta);
    SWAP_FIELD(dpost);
    SWAP_FIELD(dpost_len);
    SWAP_FIELD(dpost_cap);
    SWAP_FIELD(dlists);
    SWAP_FIELD(dlist_mask);
    SWAP_FIELD(n_dlists);
    SWAP_FIELD(dead);
    SWAP_FIELD(n_dead);
#undef SWAP_FIELD
}

/* Rebuilds lx from the table, as rg_lexical_open would. */
static rg_status rebuild(rg_lexical *lx, sqlite3 *db, rg_error *err)
{
    rg_lexical_options o = {lx->table, lx->tokenize, lx->k1, lx->b, lx->exhaustive_opt};
    rg_lexical *fresh;
    rg_status st = rg_lexical_open(db, &o, &fresh, err);
    if (st) return st;
    swap_index(lx, fresh);
    lx->n_empty = fresh->n_empty;
    lx->last_read = fresh->last_read;
    rg_lexical_close(fresh);
    return RG_OK;
}

static void delta_free(lex_delta *x)
{
    rg_free(x->key);
    rg_free(x->pool);
    rg_free(x->off);
    rg_free(x->slots);
    rg_free(x->id);
    rg_free(x->dl);
    memset(x, 0, sizeof *x);
}

void rg_lex_delta_clear(rg_lexical *lx)
{
    delta_free(&lx->delta);
    rg_free(lx->dpost);
    rg_free(lx->dlists);
    lx->dpost = NULL;
    lx->dlists = NULL;
    lx->dlist_mask = 0;
    lx->dpost_len = lx->dpost_cap = lx->n_dlists = 0;
}

/* Where the delta stood before an update: what a failed one goes back to. */
typedef struct delta_mark {
    size_t n_key, len_pool, n_terms, n_docs;
    uint64_t total;
} delta_mark;

/* Enters the delta's term i (its text in pool already) into its hash. */
static void delta_slot_put(lex_delta *x, size_t i)
{
    size_t h = rg_lex_term_hash(x->pool + x->off[i], x->off[i + 1] - x->off[i]) & x->slot_mask;
    while (x->slots[h])
        h = (h + 1) & x->slot_mask;
    x->slots[h] = (uint32_t)(i + 1);
}

static void delta_rehash(lex_delta *x)
{
    if (!x->slots) return;
    memset(x->slots, 0, (x->slot_mask + 1) * sizeof *x->slots);
    for (size_t i = 0; i < x->n_terms; i++)
        delta_slot_put(x, i);
}

static void delta_rollback(lex_delta *x, delta_mark m)
{
    x->n_key = m.n_key;
    x->len_pool = m.len_pool;
    x->n_docs = m.n_docs;
    x->total = m.total;
    if (x->n_terms != m.n_terms) {
        /* linear probing cannot drop entries one by one: hash again, in place */
        x->n_terms = m.n_terms;
        delta_rehash(x);
    }
}

/* Index of a new term with this text, added to the delta; -1 out of memory. */
static long delta_term(lex_delta *x, const char *s, size_t n)
{
    if (2 * (x->n_terms + 1) > x->slot_mask) { /* grow the hash */
        size_t cap = x->slot_mask ? 2 * (x->slot_mask + 1) : RG_LEX_MIN_SLOTS;
        uint32_t *sl = rg_calloc(cap, sizeof *sl);
        if (!sl) return -1;
        rg_free(x->slots);
        x->slots = sl;
        x->slot_mask = cap - 1;
        delta_rehash(x);
    }
    if (!rg_lex_grow(&x->pool, &x->cap_pool, x->len_pool + n, 1) ||
        !rg_lex_grow(&x->off, &x->cap_off, x->n_terms + 2, sizeof(size_t)))
        return -1;
    if (x->n_terms == 0) x->off[0] = 0;
    memcpy(x->pool + x->len_pool, s, n);
    x->len_pool += n;
    x->off[x->n_terms + 1] = x->len_pool;
    delta_slot_put(x, x->n_terms);
    return (long)x->n_terms++;
}

typedef struct tok_ctx {
    rg_lexical *lx;
    int oom;
} tok_ctx;

static int delta_token(void *ctx, const char *tok, size_t n, size_t start, size_t end,
                       int colocated)
{
    (void)start, (void)end, (void)colocated;
    tok_ctx *c = ctx;
    lex_delta *x = &c->lx->delta;
    long t = rg_lex_term_find(c->lx, tok, n);
    if (t < 0) {
        long nt = delta_term(x, tok, n);
        t = nt < 0 ? -1 : (long)c->lx->n_main_terms + nt;
    }
    if (t < 0 || t > (long)UINT32_MAX ||
        !rg_lex_grow(&x->key, &x->cap_key, x->n_key + 1, sizeof(uint64_t))) {
        c->oom = 1;
        return 1;
    }
    x->key[x->n_key++] = (uint64_t)t << 32 | (uint64_t)(x->n_docs - 1);
    x->dl[x->n_docs - 1]++;
    return 0;
}

/* Tokenizes the rows with rowid > lx->last_read (as the table's tokenizer
 * does for a document: title, then body) into the delta; rows without a
 * token are left out, as a fresh build leaves them, and counted in
 * *n_empty. *last receives the last rowid read. */
static rg_status read_new_rows(rg_lexical *lx, sqlite3 *db, size_t *n_empty, int64_t *last,
                               rg_error *err)
{
    lex_delta *x = &lx->delta;
    tok_ctx c = {lx, 0};
    sqlite3_stmt *q = NULL;
    char *sql =
        sqlite3_mprintf("SELECT rowid, * FROM \"%w\" WHERE rowid > ?1 ORDER BY rowid", lx->table);
    int rc = sql ? sqlite3_prepare_v2(db, sql, -1, &q, NULL) : SQLITE_NOMEM;
    sqlite3_free(sql);
    if (rc != SQLITE_OK) return rg_lex_db_fail(err, db, rc, "reading new rows");
    sqlite3_bind_int64(q, 1, lx->last_read);
    *last = lx->last_read;
    rg_status st = RG_OK;
    int cols = sqlite3_column_count(q);
    while (!st && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (lx->n_main + x->n_docs + 1 > RG_LEX_MAX_CHUNKS) {
            st = rg_fail(err, RG_ELIMIT, "lexical: more than %zu chunks", RG_LEX_MAX_CHUNKS);
            break;
        }
        if (!rg_lex_grow(&x->id, &x->cap_id, x->n_docs + 1, sizeof(int64_t)) ||
            !rg_lex_grow(&x->dl, &x->cap_dl, x->n_docs + 1, sizeof(uint32_t))) {
            st = rg_fail(err, RG_ENOMEM, "lexical: out of memory refreshing");
            break;
        }
        *last = x->id[x->n_docs] = sqlite3_column_int64(q, 0);
        x->dl[x->n_docs++] = 0;
        size_t mark = x->n_key;
        for (int col = 1; !st && col < cols; col++) {
            const char *text = (const char *)sqlite3_column_text(q, col);
            if (!text) continue;
            st = rg_fts5_tokenizer_run(lx->tok, text, (size_t)sqlite3_column_bytes(q, col), 0,
                                       delta_token, &c, err);
            if (!st && c.oom) st = rg_fail(err, RG_ENOMEM, "lexical: out of memory refreshing");
        }
        if (!st && x->n_key == mark) { /* no token: not indexed */
            x->n_docs--;
            (*n_empty)++;
        } else if (!st) {
            x->total += x->dl[x->n_docs - 1];
        }
    }
    if (!st && rc != SQLITE_DONE) st = rg_lex_db_fail(err, db, rc, "reading new rows");
    sqlite3_finalize(q);
    return st;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Digits of the term id a radix pass of sorted_copy sorts by. */
#define KEY_RADIX_BITS 16
/* Fewer keys than this are sorted by comparison: the two radix passes
 * clear and sum 2^16 counters each, whatever the number of keys. */
#define KEY_RADIX_MIN 4096

/*
 * All the delta's keys sorted (by term, then chunk) into a new array *out;
 * 0 out of memory. Each update appends one sorted run whose chunks come
 * after every earlier one, so within one term the keys are already by
 * ascending chunk: a stable sort by term suffices (two 16-bit radix passes),
 * and sorting whole keys gives the same order (a few keys: a service's
 * upload into a small store).
 */
static int sorted_copy(const lex_delta *x, uint64_t **out)
{
    size_t n = x->n_key, radix = (size_t)1 << KEY_RADIX_BITS;
    if (n < KEY_RADIX_MIN) {
        uint64_t *a = rg_malloc((n ? n : 1) * sizeof *a);
        *out = a;
        if (!a) return 0;
        if (n) memcpy(a, x->key, n * sizeof *a);
        qsort(a, n, sizeof *a, cmp_u64);
        return 1;
    }
    uint64_t *a = rg_malloc((n ? n : 1) * sizeof *a), *tmp = rg_malloc((n ? n : 1) * sizeof *tmp);
    size_t *count = rg_malloc(radix * sizeof *count);
    *out = NULL;
    if (!a || !tmp || !count) {
        rg_free(a), rg_free(tmp), rg_free(count);
        return 0;
    }
    const uint64_t *src = x->key;
    uint64_t *dst = tmp;
    for (int pass = 0; pass < 2; pass++) { /* term bits 0-15, then 16-31 */
        int shift = 32 + KEY_RADIX_BITS * pass;
        memset(count, 0, radix * sizeof *count);
        for (size_t i = 0; i < n; i++)
            count[(src[i] >> shift) & (radix - 1)]++;
        for (size_t d = 0, at = 0; d < radix; d++) {
            size_t c = count[d];
            count[d] = at;
            at += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i] >> shift) & (radix - 1)]++] = src[i];
        src = dst;
        dst = a;
    }
    rg_free(tmp);
    rg_free(count);
    *out = a;
    return 1;
}

/* Enters entry e into the hash lists (mask + 1 entries, with room). */
static lex_dlist *dlist_put(lex_dlist *lists, size_t mask, lex_dlist e)
{
    size_t h = rg_lex_dlist_home(e.term1 - 1, mask);
    while (lists[h].term1)
        h = (h + 1) & mask;
    lists[h] = e;
    return &lists[h];
}

/* Lays out all the delta's postings (impacts at the delta's own average
 * length: there is no main index) and the hash of its terms into *post and
 * *lists, from its keys sorted; *n_post and *n_lists receive the counts;
 * 0 out of memory. */
static int build_delta_lists(const rg_lexical *lx, const uint64_t *key, lex_post **post,
                             lex_dlist **lists, size_t *mask, size_t *n_post_out,
                             size_t *n_lists_out)
{
    const lex_delta *x = &lx->delta;
    size_t n_post = 0, n_t = 0;
    for (size_t i = 0; i < x->n_key; i++) {
        if (i > 0 && key[i] == key[i - 1]) continue;
        n_post++;
        n_t += i == 0 || (key[i] >> 32) != (key[i - 1] >> 32);
    }
    size_t cap = RG_LEX_MIN_SLOTS;
    while (cap < 2 * n_t)
        cap *= 2;
    *post = rg_malloc((n_post ? n_post : 1) * sizeof **post);
    *lists = rg_calloc(cap, sizeof **lists);
    if (!*post || !*lists) {
        rg_free(*post), rg_free(*lists);
        return 0;
    }
    *mask = cap - 1;
    double avgdl = lx->n_main ? lx->avgdl : x->n_docs ? (double)x->total / (double)x->n_docs : 1.0;
    lex_dlist *cur = NULL;
    size_t at = 0;
    for (size_t i = 0; i < x->n_key;) {
        uint32_t t = (uint32_t)(key[i] >> 32), slot = (uint32_t)key[i];
        size_t run = 1;
        while (i + run < x->n_key && key[i + run] == key[i])
            run++;
        if (!cur || cur->term1 != t + 1)
            cur = dlist_put(*lists, *mask, (lex_dlist){t + 1, 0, at, 0.0f, 0});
        float w = rg_lex_impact(lx, (double)run, (double)x->dl[slot], avgdl);
        (*post)[at++] = (lex_post){(uint32_t)(lx->n_main + slot), w};
        cur->n++;
        cur->cap++;
        if (w > cur->max) cur->max = w;
        i += run;
    }
    *n_post_out = n_post;
    *n_lists_out = n_t;
    return 1;
}

/* Room a list of n postings gets when it moves: half as much again. */
static size_t list_room(size_t n)
{
    return n < 4 ? 4 : n + n / 2;
}

/* The next group of keys[i..) with one term: its end, and its distinct chunks in *c. */
static size_t term_group(const uint64_t *key, size_t i, size_t n_key, size_t *c)
{
    uint32_t t = (uint32_t)(key[i] >> 32);
    size_t j = i;
    *c = 0;
    for (; j < n_key && (uint32_t)(key[j] >> 32) == t; j++)
        *c += j == i || key[j] != key[j - 1];
    return j;
}

/*
 * Appends the postings of the new rows (keys [from, n_key), sorted) to the
 * delta's lists: a list with room takes them in place, a full one moves to
 * the end of dpost with half as much room again as it needs; when dpost is
 * full, the lists are copied back to back into a new one (dropping the room
 * moved lists left behind) with half as much again to spare, so copies
 * cost O(1) per posting over time. Impacts use the main index's average
 * length, which holds until the next merge, so the postings already laid
 * out stay as they are: the cost is the new rows', not the delta's. All
 * memory is allocated first: 0 out of memory, and then nothing changed.
 */
static int append_delta_lists(rg_lexical *lx, size_t from)
{
    const lex_delta *x = &lx->delta;
    const uint64_t *key = x->key;
    size_t need = 0, new_terms = 0, c;
    for (size_t i = from, end; i < x->n_key; i = end) {
        end = term_group(key, i, x->n_key, &c);
        const lex_dlist *d = rg_lex_dlist(lx, (uint32_t)(key[i] >> 32));
        new_terms += !d;
        if ((d ? d->n : 0) + c > (d ? d->cap : 0)) need += list_room((d ? d->n : 0) + c);
    }
    lex_dlist *lists = NULL;
    size_t mask = lx->dlist_mask;
    if (!lx->dlists || 2 * (lx->n_dlists + new_terms) > lx->dlist_mask + 1) {
        size_t cap = RG_LEX_MIN_SLOTS;
        while (cap < 2 * (lx->n_dlists + new_terms))
            cap *= 2;
        if (!(lists = rg_calloc(cap, sizeof *lists))) return 0;
        mask = cap - 1;
    }
    /* Out of room: a new array where the lists lie back to back (the room
     * moved lists left behind is dropped), half as much again to spare. */
    lex_post *post = NULL;
    size_t post_cap = 0;
    if (lx->dpost_len + need > lx->dpost_cap) {
        size_t used = need;
        for (size_t h = 0; lx->dlists && h <= lx->dlist_mask; h++)
            used += lx->dlists[h].cap;
        post_cap = used + used / 2;
        if (!(post = rg_malloc(post_cap * sizeof *post))) {
            rg_free(lists);
            return 0;
        }
    }
    /* nothing fails from here */
    if (post) {
        size_t at = 0;
        for (size_t h = 0; lx->dlists && h <= lx->dlist_mask; h++) {
            lex_dlist *d = &lx->dlists[h];
            if (!d->term1) continue;
            memcpy(post + at, lx->dpost + d->start, d->n * sizeof *post);
            d->start = at;
            at += d->cap;
        }
        rg_free(lx->dpost);
        lx->dpost = post, lx->dpost_len = at, lx->dpost_cap = post_cap;
    }
    if (lists) {
        for (size_t h = 0; lx->dlists && h <= lx->dlist_mask; h++)
            if (lx->dlists[h].term1) dlist_put(lists, mask, lx->dlists[h]);
        rg_free(lx->dlists);
        lx->dlists = lists, lx->dlist_mask = mask;
    }
    for (size_t i = from; i < x->n_key;) {
        uint32_t t = (uint32_t)(key[i] >> 32);
        size_t end = term_group(key, i, x->n_key, &c);
        lex_dlist *d = rg_lex_dlist(lx, t);
        if (!d) d = dlist_put(lx->dlists, lx->dlist_mask, (lex_dlist){t + 1, 0, 0, 0.0f, 0});
        if (d->n + c > d->cap) {
            size_t room = list_room(d->n + c);
            if (d->n)
                memcpy(lx->dpost + lx->dpost_len, lx->dpost + d->start, d->n * sizeof *lx->dpost);
            d->start = lx->dpost_len, d->cap = (uint32_t)room;
            lx->dpost_len += room;
        }
        while (i < end) {
            uint32_t slot = (uint32_t)key[i];
            size_t run = 1;
            while (i + run < end && key[i + run] == key[i])
                run++;
            float w = rg_lex_impact(lx, (double)run, (double)x->dl[slot], lx->avgdl);
            lx->dpost[d->start + d->n++] = (lex_post){(uint32_t)(lx->n_main + slot), w};
            if (w > d->max) d->max = w;
            i += run;
        }
    }
    lx->n_dlists += new_terms;
    return 1;
}

/* Makes room for need chunks in the per-chunk arrays; 0 out of memory
 * (arrays grown so far stay grown: larger is harmless). */
static int grow_docs(rg_lexical *lx, size_t need)
{
    if (need <= lx->cap_docs) return 1;
    size_t cap = lx->cap_docs ? lx->cap_docs : RG_LEX_MIN_SLOTS;
    while (cap < need)
        cap *= 2;
    int64_t *ids = rg_realloc(lx->chunk_ids, cap * sizeof *ids);
    if (!ids) return 0;
    lx->chunk_ids = ids;
    uint32_t *dl = rg_realloc(lx->dl, cap * sizeof *dl);
    if (!dl) return 0;
    lx->dl = dl;
    float *acc = rg_realloc(lx->acc, cap * sizeof *acc);
    if (!acc) return 0;
    memset(acc + lx->cap_docs, 0, (cap - lx->cap_docs) * sizeof *acc); /* acc rests at 0 */
    lx->acc = acc;
    uint32_t *u = rg_realloc(lx->touched, (cap + 1) * sizeof *u);
    if (!u) return 0;
    lx->touched = u;
    if (!(u = rg_realloc(lx->cand, cap * sizeof *u))) return 0;
    lx->cand = u;
    if (!(u = rg_realloc(lx->cand_tmp, cap * sizeof *u))) return 0;
    lx->cand_tmp = u;
    if (lx->dead) {
        uint8_t *dead = rg_realloc(lx->dead, cap);
        if (!dead) return 0;
        memset(dead + lx->cap_docs, 0, cap - lx->cap_docs);
        lx->dead = dead;
    }
    lx->cap_docs = cap;
    return 1;
}

/* The term frequency behind main posting p, from its impact; 0 when it
 * cannot be recovered exactly (the caller then rebuilds). */
static uint32_t old_tf(const rg_lexical *lx, size_t p)
{
    double k1 = lx->k1, b = lx->b, w = lx->post[p].w;
    if (k1 == 0.0) return 1; /* every impact is 1 whatever tf is */
    double norm = k1 * (1.0 - b + b * (double)lx->dl[lx->post[p].doc] / lx->avgdl);
    double tf = nearbyint(w * norm / ((k1 + 1.0) - w));
    if (!(tf >= 1.0 && tf <= 16777216.0)) return 0;
    return rg_lex_impact(lx, tf, lx->dl[lx->post[p].doc], lx->avgdl) == lx->post[p].w ? (uint32_t)tf
                                                                                      : 0;
}

/* The delta without its dead chunks, into live (sharing x's terms: free
 * only key, id and dl); 0 out of memory. */
static int delta_live(const rg_lexical *lx, lex_delta *live)
{
    const lex_delta *x = &lx->delta;
    *live = *x;
    live->key = NULL, live->id = NULL, live->dl = NULL;
    uint32_t *remap = rg_malloc((x->n_docs ? x->n_docs : 1) * sizeof *remap);
    live->key = rg_malloc((x->n_key ? x->n_key : 1) * sizeof *live->key);
    live->id = rg_malloc((x->n_docs ? x->n_docs : 1) * sizeof *live->id);
    live->dl = rg_malloc((x->n_docs ? x->n_docs : 1) * sizeof *live->dl);
    if (!remap || !live->key || !live->id || !live->dl) {
        rg_free(remap);
        return 0;
    }
    size_t n = 0;
    live->total = 0;
    for (size_t s = 0; s < x->n_docs; s++) {
        if (lx->dead && lx->dead[lx->n_main + s]) {
            remap[s] = UINT32_MAX;
            continue;
        }
        remap[s] = (uint32_t)n;
        live->id[n] = x->id[s];
        live->total += live->dl[n++] = x->dl[s];
    }
    live->n_docs = n;
    live->n_key = 0;
    for (size_t i = 0; i < x->n_key; i++) {
        uint32_t s = remap[(uint32_t)x->key[i]];
        if (s != UINT32_MAX) live->key[live->n_key++] = (x->key[i] >> 32) << 32 | s;
    }
    rg_free(remap);
    return 1;
}

/* Builds into nx the main index of lx minus its dead chunks plus the live
 * delta x (keys sorted). 1 on success, 0 when an old frequency cannot be
 * recovered, -1 out of memory. */
static int merge_index(rg_lexical *lx, const lex_delta *x, rg_lexical *nx)
{
    size_t n_old = lx->n_main, n_kept = 0, n_old_terms = lx->n_main_terms;
    for (size_t d = 0; d < n_old; d++)
        n_kept += !(lx->dead && lx->dead[d]);
    size_t nd = n_kept + x->n_docs, nterms = n_old_terms + x->n_terms;
    if (nd > RG_LEX_MAX_CHUNKS) return -1;
    uint32_t *remap = rg_malloc((n_old ? n_old : 1) * sizeof *remap);
    nx->chunk_ids = rg_malloc((nd ? nd : 1) * sizeof(int64_t));
    nx->dl = rg_malloc((nd ? nd : 1) * sizeof(uint32_t));
    nx->term_off = rg_malloc((nterms + 1) * sizeof(size_t));
    nx->post_off = rg_calloc(nterms + 1, sizeof(size_t));
    size_t old_pool = n_old_terms ? lx->term_off[n_old_terms] : 0;
    nx->pool = rg_malloc(old_pool + x->len_pool + 1);
    nx->post_max = rg_calloc(nterms ? nterms : 1, sizeof(float));
    int ok = -1;
    if (!remap || !nx->chunk_ids || !nx->dl || !nx->term_off || !nx->post_off || !nx->pool ||
        !nx->post_max)
        goto out;
    /* chunks: the kept ones in order, then the delta's (larger ids) */
    size_t d2 = 0;
    nx->total = 0;
    for (size_t d = 0; d < n_old; d++) {
        if (lx->dead && lx->dead[d]) continue;
        remap[d] = (uint32_t)d2;
        nx->chunk_ids[d2] = lx->chunk_ids[d];
        nx->total += nx->dl[d2++] = lx->dl[d];
    }
    for (size_t j = 0; j < x->n_docs; j++) {
        nx->chunk_ids[d2] = x->id[j];
        nx->total += nx->dl[d2++] = x->dl[j];
    }
    nx->n_docs = nd;
    /* terms: the old ones, then the new ones */
    if (old_pool) memcpy(nx->pool, lx->pool, old_pool);
    if (x->len_pool) memcpy(nx->pool + old_pool, x->pool, x->len_pool);
    nx->term_off[0] = 0;
    for (size_t t = 0; t < n_old_terms; t++)
        nx->term_off[t + 1] = lx->term_off[t + 1];
    for (size_t t = 0; t < x->n_terms; t++)
        nx->term_off[n_old_terms + t + 1] = old_pool + x->off[t + 1];
    nx->n_terms = nterms;
    /* x's keys are sorted by term, then chunk; runs of one (term, chunk) are its tf */
    for (size_t t = 0; t < n_old_terms; t++)
        for (size_t p = lx->post_off[t]; p < lx->post_off[t + 1]; p++)
            nx->post_off[t + 1] += !(lx->dead && lx->dead[lx->post[p].doc]);
    for (size_t i = 0; i < x->n_key; i++)
        if (i == 0 || x->key[i] != x->key[i - 1]) nx->post_off[(x->key[i] >> 32) + 1]++;
    for (size_t t = 0; t < nterms; t++)
        nx->post_off[t + 1] += nx->post_off[t];
    nx->post = rg_malloc((nx->post_off[nterms] ? nx->post_off[nterms] : 1) * sizeof(lex_post));
    if (!nx->post) goto out;
    size_t k = 0;
    ok = 0;
    for (size_t t = 0; t < nterms; t++) {
        size_t at = nx->post_off[t];
        for (size_t p = t < n_old_terms ? lx->post_off[t] : 0;
             t < n_old_terms && p < lx->post_off[t + 1]; p++) {
            if (lx->dead && lx->dead[lx->post[p].doc]) continue;
            uint32_t tf = old_tf(lx, p);
            if (!tf) goto out;
            nx->post[at++] = (lex_post){remap[lx->post[p].doc], (float)tf};
        }
        for (; k < x->n_key && (x->key[k] >> 32) == t;) {
            size_t run = 1;
            while (k + run < x->n_key && x->key[k + run] == x->key[k])
                run++;
            nx->post[at++] = (lex_post){(uint32_t)(n_kept + (x->key[k] & 0xffffffffu)), (float)run};
            k += run;
        }
    }
    nx->exhaustive = lx->exhaustive_opt;
    rg_lex_set_impacts(nx);
    ok = 1;
out:
    rg_free(remap);
    return ok;
}

/* Index of chunk id among chunk_ids[0..n_docs), or -1. */
static long find_chunk(const rg_lexical *lx, int64_t id)
{
    size_t lo = 0, hi = lx->n_docs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (lx->chunk_ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < lx->n_docs && lx->chunk_ids[lo] == id ? (long)lo : -1;
}

/* Merges the delta and the dead chunks into the main index (lx unchanged
 * unless it succeeds); *rebuilt = 1 when it had to rebuild from db. */
static rg_status merge_locked(rg_lexical *lx, sqlite3 *db, int *rebuilt, rg_error *err)
{
    lex_delta live;
    int shared = !lx->n_dead;
    if (shared) {
        live = lx->delta;
    } else if (!delta_live(lx, &live)) {
        rg_free(live.key), rg_free(live.id), rg_free(live.dl);
        return rg_fail(err, RG_ENOMEM, "lexical: out of memory merging");
    }
    rg_status st = RG_OK;
    rg_lexical *nx = rg_calloc(1, sizeof *nx);
    if (!nx) {
        st = rg_fail(err, RG_ENOMEM, "lexical: out of memory merging");
        goto out;
    }
    nx->k1 = lx->k1, nx->b = lx->b;
    int ok = merge_index(lx, &live, nx);
    if (ok == 0) {
        *rebuilt = 1;
        st = rebuild(lx, db, err);
        goto out;
    }
    if (ok < 0 || (st = rg_lex_build_hash(nx, err))) {
        if (!st) st = rg_fail(err, RG_ENOMEM, "lexical: out of memory merging");
        goto out;
    }
    swap_index(lx, nx); /* nx now holds the old index, delta and dead masks included */
out:
    if (nx) rg_lex_free_index(nx);
    rg_free(nx);
    if (!shared) rg_free(live.key), rg_free(live.id), rg_free(live.dl);
    return st;
}

/*
 * The update both entry points share: masks the chunks gone[0..n_gone)
 * (ids the index lacks are rows without a token, or rows it never read),
 * reads the new rows into the delta, then merges (always with force) or
 * lays out the delta's postings again. On error lx is as it was.
 */
static rg_status update_locked(rg_lexical *lx, sqlite3 *db, const int64_t *gone, size_t n_gone,
                               int force, int *merged, int *rebuilt, rg_error *err)
{
    lex_delta *x = &lx->delta;
    delta_mark m = {x->n_key, x->len_pool, x->n_terms, x->n_docs, x->total};
    size_t n_empty = lx->n_empty, n_kill = 0;
    int64_t last = lx->last_read;
    uint32_t *kill = rg_malloc((n_gone ? n_gone : 1) * sizeof *kill);
    uint64_t *keys = NULL, *old_keys = NULL;
    lex_post *dpost = NULL;
    lex_dlist *dlists = NULL;
    size_t dmask = 0, n_post = 0, n_lists = 0;
    rg_status st = RG_OK;
    if (!kill ||
        (n_gone && !lx->dead && !(lx->dead = rg_calloc(lx->cap_docs ? lx->cap_docs : 1, 1)))) {
        st = rg_fail(err, RG_ENOMEM, "lexical: out of memory refreshing");
        goto fail;
    }
    for (size_t i = 0; i < n_gone; i++) {
        long d = find_chunk(lx, gone[i]);
        if (d >= 0 && !lx->dead[d]) {
            lx->dead[d] = 2; /* taken (a repeated id is skipped); 1 once this update succeeds */
            kill[n_kill++] = (uint32_t)d;
        } else if (d < 0 && gone[i] <= lx->last_read && n_empty > 0) {
            n_empty--; /* a row without a token */
        }
    }
    if ((st = read_new_rows(lx, db, &n_empty, &last, err))) goto fail;
    /* the new rows' keys, sorted in place: the delta's keys are sorted runs */
    if (x->n_key > m.n_key) qsort(x->key + m.n_key, x->n_key - m.n_key, sizeof *x->key, cmp_u64);
    if (!grow_docs(lx, lx->n_main + x->n_docs)) {
        st = rg_fail(err, RG_ENOMEM, "lexical: out of memory refreshing");
        goto fail;
    }
    for (size_t s = m.n_docs; s < x->n_docs; s++) {
        lx->chunk_ids[lx->n_main + s] = x->id[s];
        lx->dl[lx->n_main + s] = x->dl[s];
    }
    size_t limit = lx->n_main / RG_LEX_DELTA_DIV;
    if (limit < RG_LEX_DELTA_MIN) limit = RG_LEX_DELTA_MIN;
    size_t n_dead = lx->n_dead + n_kill;
    if (force || x->n_docs > limit || n_dead > limit) {
        if (!x->n_docs && !n_dead) goto done; /* nothing indexed changed */
        if (!sorted_copy(x, &keys)) {
            st = rg_fail(err, RG_ENOMEM, "lexical: out of memory refreshing");
            goto fail;
        }
        for (size_t i = 0; i < n_kill; i++)
            lx->dead[kill[i]] = 1;
        size_t was_dead = lx->n_dead;
        lx->n_dead = n_dead;
        lx->n_docs = lx->n_main + x->n_docs;
        old_keys = x->key;
        x->key = keys; /* the merge reads them sorted, and frees them with the delta */
        int r = 0;
        if ((st = merge_locked(lx, db, &r, err))) {
            x->key = old_keys;
            lx->n_dead = was_dead;
            lx->n_docs = lx->n_main + m.n_docs;
            goto fail;
        }
        rg_free(old_keys);
        if (r && rebuilt) *rebuilt = 1;
        if (merged) *merged = 1;
        if (r) goto out; /* the rebuild set n_empty and last_read */
        goto done;
    }
    if (lx->n_main) {
        /* impacts at the main index's average length: only the new rows' postings to add */
        if (!append_delta_lists(lx, m.n_key)) {
            st = rg_fail(err, RG_ENOMEM, "lexical: out of memory refreshing");
            goto fail;
        }
    } else {
        /* no main index: impacts at the delta's own average length, which moved */
        if (!sorted_copy(x, &keys) ||
            !build_delta_lists(lx, keys, &dpost, &dlists, &dmask, &n_post, &n_lists)) {
            st = rg_fail(err, RG_ENOMEM, "lexical: out of memory refreshing");
            goto fail;
        }
        rg_free(x->key);
        x->key = keys;
        x->cap_key = x->n_key;
        rg_free(lx->dpost);
        rg_free(lx->dlists);
        lx->dpost = dpost, lx->dlists = dlists, lx->dlist_mask = dmask;
        lx->dpost_len = lx->dpost_cap = n_post, lx->n_dlists = n_lists;
    }
    /* nothing fails from here */
    for (size_t i = 0; i < n_kill; i++)
        lx->dead[kill[i]] = 1;
    lx->n_dead = n_dead;
    lx->n_docs = lx->n_main + x->n_docs;
    lx->n_terms = lx->n_main_terms + x->n_terms;
done:
    lx->n_empty = n_empty;
    lx->last_read = last;
out:
    rg_free(kill);
    return st;
fail:
    if (keys && keys != x->key) rg_free(keys);
    for (size_t i = 0; i < n_kill; i++)
        lx->dead[kill[i]] = 0;
    delta_rollback(x, m);
    rg_free(kill);
    return st;
}

/* Every rowid of the table, ascending (its docsize shadow table). */
static rg_status read_row_ids(rg_lexical *lx, sqlite3 *db, int64_t **ids, size_t *n, rg_error *err)
{
    sqlite3_stmt *q = NULL;
    char *sql = sqlite3_mprintf("SELECT id FROM \"%w_docsize\" ORDER BY id", lx->table);
    int rc = sql ? sqlite3_prepare_v2(db, sql, -1, &q, NULL) : SQLITE_NOMEM;
    sqlite3_free(sql);
    if (rc != SQLITE_OK) return rg_lex_db_fail(err, db, rc, "reading row ids");
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    rg_status st = RG_OK;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (!rg_lex_grow(ids, &cap, *n + 1, sizeof(int64_t))) {
            st = rg_fail(err, RG_ENOMEM, "lexical: out of memory refreshing");
            break;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(q, 0);
    }
    if (!st && rc != SQLITE_DONE) st = rg_lex_db_fail(err, db, rc, "reading row ids");
    sqlite3_finalize(q);
    return st;
}

static rg_status refresh_locked(rg_lexical *lx, sqlite3 *db, int *rebuilt, rg_error *err)
{
    int64_t *ids = NULL, *gone = NULL;
    size_t n_ids = 0, n_gone = 0, i = 0, unindexed = 0;
    rg_status st = read_row_ids(lx, db, &ids, &n_ids, err);
    if (st) return st;
    if (!(gone = rg_malloc((lx->n_docs ? lx->n_docs : 1) * sizeof *gone))) {
        st = rg_fail(err, RG_ENOMEM, "lexical: out of memory refreshing");
        goto out;
    }
    /* both ascending: which indexed chunks are gone, and rows read before
     * that the index lacks (rows without a token, or a change it cannot
     * follow: then rebuild) */
    for (size_t d = 0; d < lx->n_docs; d++) {
        while (i < n_ids && ids[i] < lx->chunk_ids[d])
            unindexed++, i++;
        if (i < n_ids && ids[i] == lx->chunk_ids[d])
            i++;
        else if (!(lx->dead && lx->dead[d]))
            gone[n_gone++] = lx->chunk_ids[d];
    }
    while (i < n_ids && ids[i] <= lx->last_read)
        unindexed++, i++;
    if (unindexed != lx->n_empty) {
        *rebuilt = 1;
        st = rebuild(lx, db, err);
        goto out;
    }
    st = update_locked(lx, db, gone, n_gone, 1, NULL, rebuilt, err);
out:
    rg_free(gone);
    rg_free(ids);
    return st;
}

rg_status rg_lexical_refresh(rg_lexical *lx, sqlite3 *db, int *rebuilt, rg_error *err)
{
    int r = 0;
    if (rebuilt) *rebuilt = 0;
    if (!lx || !db) return rg_fail(err, RG_EINVAL, "lexical: bad refresh arguments");
    pthread_mutex_lock(&lx->mu);
    rg_status st = refresh_locked(lx, db, &r, err);
    pthread_mutex_unlock(&lx->mu);
    if (rebuilt) *rebuilt = r;
    return st;
}

rg_status rg_lexical_update(rg_lexical *lx, sqlite3 *db, const int64_t *gone, size_t n_gone,
                            int merge, int *merged, rg_error *err)
{
    int m = 0;
    if (merged) *merged = 0;
    if (!lx || !db || (n_gone && !gone))
        return rg_fail(err, RG_EINVAL, "lexical: bad update arguments");
    pthread_mutex_lock(&lx->mu);
    rg_status st = update_locked(lx, db, gone, n_gone, merge != 0, &m, NULL, err);
    pthread_mutex_unlock(&lx->mu);
    if (merged) *merged = m;
    return st;
}
