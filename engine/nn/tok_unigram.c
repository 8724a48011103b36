/*
 * tok_unigram.c — the Unigram model of the SentencePiece family (XLM-R,
 * multilingual-e5, bge-m3, paraphrase-multilingual-MiniLM): Viterbi over
 * the piece scores, unknown characters fused into one unk, byte fallback
 * to <0xNN> pieces. Its normalizers and Metaspace are in tok_spnorm.c.
 *
 * It does what Hugging Face tokenizers does, quirks included (noted where
 * they occur), because ids must match it exactly.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "engine/nn/tok_internal.h"
#include "engine/nn/tokenizer.h"

/* HF's Unigram scores an unknown character as the lowest piece score minus this. */
#define UNI_UNK_PENALTY 10.0

/* Trie node; the children of a node are contiguous and sorted by byte. */
typedef struct uni_node {
    uint32_t first;
    uint16_t nchild;
    uint8_t byte;
    int32_t id; /* piece ending here, -1 if none */
} uni_node;

typedef struct unigram {
    tok_vocab vocab;
    double *scores;
    uni_node *nodes;
    size_t n_nodes;
    int32_t unk; /* -1: none */
    int byte_fallback;
    int32_t byte_id[256]; /* id of "<0xNN>", -1 if absent */
    double unk_score;
} unigram;

static void uni_free(void *p)
{
    unigram *u = p;
    if (!u)
        return;
    tok_vocab_free(&u->vocab);
    rg_free(u->scores);
    rg_free(u->nodes);
    rg_free(u);
}

typedef struct piece_ref {
    const char *s;
    uint32_t len;
    int32_t id;
} piece_ref;

static int by_bytes(const void *a, const void *b)
{
    const piece_ref *x = a, *y = b;
    size_t m = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, m);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

typedef struct build_item {
    uint32_t node, lo, hi, depth;
} build_item;

/*
 * Breadth-first over the sorted pieces, so each node's children land next
 * to each other (tok_vocab_index has already refused duplicate pieces).
 */
static rg_status build_trie(unigram *u, rg_error *err)
{
    size_t n = u->vocab.n, total = 1;
    for (size_t i = 0; i < n; i++)
        total += u->vocab.lens[i];
    piece_ref *refs = rg_malloc((n ? n : 1) * sizeof *refs);
    build_item *queue = rg_malloc(total * sizeof *queue);
    u->nodes = rg_malloc(total * sizeof *u->nodes);
    rg_status rc = RG_OK;
    if (!refs || !queue || !u->nodes) {
        rc = rg_fail(err, RG_ENOMEM, "tokenizer: out of memory for the vocabulary trie");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        refs[i] = (piece_ref){u->vocab.pieces[i], u->vocab.lens[i], (int32_t)i};
    qsort(refs, n, sizeof *refs, by_bytes);
    u->nodes[0] = (uni_node){0, 0, 0, -1};
    u->n_nodes = 1;
    queue[0] = (build_item){0, 0, (uint32_t)n, 0};
    for (size_t head = 0, tail = 1; head < tail; head++) {
        build_item it = queue[head];
        uni_node *nd = &u->nodes[it.node];
        uint32_t i = it.lo;
        for (; i < it.hi && refs[i].len == it.depth; i++)
            if (it.depth > 0)
                nd->id = refs[i].id;
        nd->first = (uint32_t)u->n_nodes;
        while (i < it.hi) {
            uint8_t b = (uint8_t)refs[i].s[it.depth];
            uint32_t j = i;
            while (j < it.hi && (uint8_t)refs[j].s[it.depth] == b)
                j++;
            u->nodes[u->n_nodes] = (uni_node){0, 0, b, -1};
            queue[tail++] = (build_item){(uint32_t)u->n_nodes++, i, j, it.depth + 1};
            u->nodes[it.node].nchild++;
            i = j;
        }
    }
    /* sized for the worst case (no shared prefixes); give back the rest */
    uni_node *fit = rg_realloc(u->nodes, u->n_nodes * sizeof *u->nodes);
    if (fit)
        u->nodes = fit;
out:
    rg_free(refs);
    rg_free(queue);
    return rc;
}

static const uni_node *child(const unigram *u, const uni_node *nd, uint8_t b)
{
    size_t lo = nd->first, hi = lo + nd->nchild;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (u->nodes[mid].byte < b)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < (size_t)nd->first + nd->nchild && u->nodes[lo].byte == b ? &u->nodes[lo] : NULL;
}

typedef struct lattice_node {
    double score;
    int32_t start; /* -1: not reached */
    int32_t id;
} lattice_node;

/* Pushes the ids of w[a..b), a run of unknown characters fused into one token. */
static rg_status push_unknown(const unigram *u, const char *w, size_t a, size_t b, tok_ids *out,
                              rg_error *err)
{
    int32_t id = tok_vocab_find(&u->vocab, w + a, b - a);
    if (id >= 0)
        return tok_ids_push(out, id, err);
    int all = u->byte_fallback;
    for (size_t i = a; all && i < b; i++)
        all = u->byte_id[(unsigned char)w[i]] >= 0;
    if (!all)
        return tok_ids_push(out, u->unk, err);
    rg_status rc = RG_OK;
    for (size_t i = a; i < b && !rc; i++)
        rc = tok_ids_push(out, u->byte_id[(unsigned char)w[i]], err);
    return rc;
}

static rg_status uni_tokenize(const void *model, const char *w, size_t n, size_t nchars,
                              tok_ids *out, rg_error *err)
{
    (void)nchars;
    const unigram *u = model;
    if (n == 0)
        return RG_OK;
    lattice_node *best = rg_malloc((n + 1) * sizeof *best);
    int32_t *path = rg_malloc((n + 1) * sizeof *path);
    rg_status rc = RG_OK;
    if (!best || !path) {
        rc = rg_fail(err, RG_ENOMEM, "tokenizer: out of memory");
        goto out;
    }
    for (size_t i = 0; i <= n; i++)
        best[i] = (lattice_node){0.0, -1, -1};
    for (size_t pos = 0; pos < n;) {
        uint32_t c;
        size_t mblen = rg_utf8_decode(w + pos, n - pos, &c);
        double here = best[pos].score;
        int single = 0;
        const uni_node *nd = &u->nodes[0];
        for (size_t k = pos; k < n && (nd = child(u, nd, (uint8_t)w[k])); k++) {
            if (nd->id < 0)
                continue;
            lattice_node *t = &best[k + 1];
            double cand = here + u->scores[nd->id];
            if (t->start < 0 || cand > t->score)
                *t = (lattice_node){cand, (int32_t)pos, nd->id};
            single |= k + 1 - pos == mblen;
        }
        if (!single) {
            if (u->unk < 0) {
                rc = rg_fail(err, RG_EINVAL, "tokenizer: a character is not in the vocabulary "
                                             "and the model has no unk_id");
                goto out;
            }
            lattice_node *t = &best[pos + mblen];
            double cand = here + u->unk_score;
            if (t->start < 0 || cand > t->score)
                *t = (lattice_node){cand, (int32_t)pos, u->unk};
        }
        pos += mblen;
    }
    /* walk back from the end, then emit front to back */
    size_t np = 0;
    for (size_t end = n; end > 0; end = (size_t)best[end].start)
        path[np++] = (int32_t)end;
    for (size_t k = np; k-- > 0 && !rc;) {
        size_t end = (size_t)path[k], start = (size_t)best[end].start;
        if (best[end].id != u->unk || u->unk < 0) {
            rc = tok_ids_push(out, best[end].id, err);
            continue;
        }
        /* HF fuses consecutive unknowns (fuse_unk) before looking them up */
        while (k > 0 && best[path[k - 1]].id == u->unk)
            end = (size_t)path[--k];
        rc = push_unknown(u, w, start, end, out, err);
    }
out:
    rg_free(best);
    rg_free(path);
    return rc;
}

const tok_model_ops tok_unigram_ops = {"Unigram", uni_tokenize, uni_free};

static rg_status load_vocab(unigram *u, const cJSON *v, rg_error *err)
{
    size_t n = (size_t)cJSON_GetArraySize(v);
    rg_status rc = tok_vocab_init(&u->vocab, n, err);
    if (rc)
        return rc;
    u->scores = rg_malloc((n ? n : 1) * sizeof *u->scores);
    if (!u->scores)
        return rg_fail(err, RG_ENOMEM, "tokenizer: out of memory");
    double min_score = 0.0;
    int32_t id = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        const cJSON *piece = cJSON_GetArrayItem(e, 0), *score = cJSON_GetArrayItem(e, 1);
        if (!cJSON_IsString(piece) || !cJSON_IsNumber(score))
            return rg_fail(err, RG_ECORRUPT, "tokenizer: Unigram vocabulary entry %d is not [piece, score]",
                           (int)id);
        if ((rc = tok_vocab_set(&u->vocab, id, piece->valuestring, strlen(piece->valuestring), err)))
            return rc;
        u->scores[id] = score->valuedouble;
        if (id == 0 || score->valuedouble < min_score)
            min_score = score->valuedouble;
        id++;
    }
    u->unk_score = min_score - UNI_UNK_PENALTY;
    return RG_OK;
}

rg_status tok_unigram_new(const cJSON *model, void **out, const tok_vocab **vocab, rg_error *err)
{
    *out = NULL;
    unigram *u = rg_calloc(1, sizeof *u);
    if (!u)
        return rg_fail(err, RG_ENOMEM, "tokenizer: out of memory");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_id");
    rg_status rc;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0) {
        rc = rg_fail(err, RG_ECORRUPT, "tokenizer: Unigram model without a vocabulary");
        goto out;
    }
    if ((rc = load_vocab(u, v, err)))
        goto out;
    u->unk = -1;
    if (cJSON_IsNumber(unk)) {
        if (unk->valuedouble < 0 || unk->valuedouble >= (double)u->vocab.n) {
            rc = rg_fail(err, RG_ECORRUPT, "tokenizer: Unigram unk_id is out of range");
            goto out;
        }
        u->unk = (int32_t)unk->valuedouble;
    }
    u->byte_fallback = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "byte_fallback"));
    if ((rc = tok_vocab_index(&u->vocab, err)) || (rc = build_trie(u, err)))
        goto out;
    for (int b = 0; b < 256; b++) {
        static const char hex[] = "0123456789ABCDEF";
        char name[] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
        u->byte_id[b] = tok_vocab_find(&u->vocab, name, sizeof name);
    }
out:
    if (rc) {
        uni_free(u);
        return rc;
    }
    *out = u;
    *vocab = &u->vocab;
    return RG_OK;
}
