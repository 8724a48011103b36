/*
 * lexical_impl.h — inside index/lexical: the index layout and the helpers
 * its three files share (lexical.c builds and searches, lexical_refresh.c
 * updates in place, lexical_snippet.c cuts snippets). Not a public header:
 * only those files include it.
 */
#ifndef RG_LEXICAL_IMPL_H
#define RG_LEXICAL_IMPL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "engine/base/status.h"
#include "index/lexical.h"

/* Longest FTS5 table name and tokenize= spec kept for refreshes. */
#define RG_LEX_NAME_MAX 127
/* Chunk indexes are uint32_t. */
#define RG_LEX_MAX_CHUNKS ((size_t)UINT32_MAX - 1)
#define RG_LEX_MIN_SLOTS  16
#define RG_ELLIPSIS       "\xe2\x80\xa6"
/* The floor of a check comes from final scores for k up to this, else from
 * partial ones. */
#define RG_LEX_THETA_MAX 1024

/* The delta (lexical_refresh.c, rg_lexical_update) is merged into the main
 * index when its chunks, or the chunks deleted since the last merge, pass
 * RG_LEX_DELTA_MIN and 1 / RG_LEX_DELTA_DIV of the main index's. The fuzz
 * build sets a smaller minimum (meson.build). */
#ifndef RG_LEX_DELTA_MIN
#define RG_LEX_DELTA_MIN 4096
#endif
#define RG_LEX_DELTA_DIV 16

typedef struct lex_post {
    uint32_t doc; /* chunk index */
    float w;      /* BM25 impact without idf */
} lex_post;

/*
 * Chunks added since the main index was built or last merged, kept as
 * (term, chunk) keys so that each update only tokenizes the new rows.
 * Terms the main index lacks get ids n_main_terms + i. Chunk "slots" count
 * from 0 here and are chunk indexes n_main + slot in the handle.
 */
typedef struct lex_delta {
    uint64_t *key; /* term << 32 | slot, sorted */
    size_t n_key, cap_key;
    char *pool; /* new terms' texts */
    size_t len_pool, cap_pool;
    size_t *off; /* [n_terms + 1] into pool */
    size_t n_terms, cap_off;
    uint32_t *slots; /* hash of new terms: index + 1 */
    size_t slot_mask;
    int64_t *id; /* [n_docs] chunk ids, ascending */
    uint32_t *dl;
    size_t n_docs, cap_id, cap_dl;
    uint64_t total; /* sum of dl */
} lex_delta;

/* One term's postings in the delta: dpost[start .. start + n), by chunk,
 * with room for cap (new postings are appended; a full list moves). */
typedef struct lex_dlist {
    uint32_t term1; /* term id + 1; 0: an empty slot */
    uint32_t n;
    size_t start;
    float max;    /* largest impact */
    uint32_t cap; /* room at start */
} lex_dlist;

/*
 * The main index holds chunks 0..n_main-1 and terms 0..n_main_terms-1 in
 * flat arrays; the delta (rg_lexical_update) holds chunks n_main..n_docs-1
 * and the terms only they have, searched beside it; dead masks chunks of
 * either deleted since the last merge. N and document frequencies count
 * masked chunks until the merge (as Lucene's segments do).
 */
struct rg_lexical {
    rg_fts5_tokenizer *tok;
    pthread_mutex_t mu; /* guards tok, acc, touched and the query scratch */
    size_t n_docs;      /* chunks, main and delta, dead ones included */
    size_t n_main;      /* chunks of the main index */
    size_t cap_docs;    /* room in chunk_ids, dl, acc, touched, cand, cand_tmp, dead */
    int64_t *chunk_ids; /* [n_docs], ascending */
    size_t n_terms;     /* terms, main and delta */
    size_t n_main_terms; /* terms of the main index */
    char *pool;          /* main term bytes, back to back */
    size_t *term_off;    /* [n_main_terms + 1] into pool */
    size_t *post_off;    /* [n_main_terms + 1] into post */
    lex_post *post;     /* postings of term t: post[post_off[t] .. post_off[t+1]), by chunk */
    float *post_max;    /* [n_main_terms] largest impact of each term in post */
    uint32_t *slots;    /* hash of main terms: term id + 1, 0 = empty */
    size_t slot_mask;   /* slots has slot_mask + 1 entries, a power of two */
    float *acc;         /* [n_docs] scores; 0 = untouched (every impact is > 0) */
    uint32_t *touched;  /* [n_docs + 1] chunks with a non-zero acc */
    uint32_t *cand;     /* [n_docs] chunks still able to enter the top k (pruning) */
    uint32_t *cand_tmp; /* [n_docs] radix sort scratch */
    uint32_t th_doc[RG_LEX_THETA_MAX]; /* kth_final scratch */
    float th_score[RG_LEX_THETA_MAX];
    uint32_t *dl;   /* [n_docs] token instances of each chunk */
    uint64_t total; /* sum of dl over the main index */
    double avgdl;   /* the average length every impact was computed with */
    lex_delta delta;
    lex_post *dpost;   /* the delta's postings, impacts at avgdl */
    size_t dpost_len;  /* dpost[0 .. dpost_len) holds lists (and their room) */
    size_t dpost_cap;  /* dpost has room for dpost_cap */
    lex_dlist *dlists; /* hash of the delta's terms: their postings in dpost */
    size_t dlist_mask; /* dlists has dlist_mask + 1 entries (0: none) */
    size_t n_dlists;   /* terms in dlists */
    uint8_t *dead;     /* [n_docs] 1: deleted since the last merge (NULL: none yet) */
    size_t n_dead;
    float k1;       /* BM25 k1: an impact approaches k1 + 1 as tf grows */
    float b;        /* BM25 b */
    int exhaustive; /* no pruning */
    /* what rg_lexical_refresh needs to read the table again */
    char table[RG_LEX_NAME_MAX + 1];
    char tokenize[RG_LEX_NAME_MAX + 1];
    int exhaustive_opt; /* exhaustive as asked (it is also set when postings are unordered) */
    int64_t last_read;  /* rows up to this id have been read (INT64_MIN: none) */
    size_t n_empty;     /* rows of the table up to last_read that have no token */
    size_t n_pruned;    /* searches that pruned */
    /* query scratch: the distinct query terms */
    uint32_t qterm[RG_QUERY_MAX_TERMS];
    size_t n_qterm;
    struct lex_qterm {
        uint32_t t;
        float idf;
        double bound; /* idf * largest impact */
    } qinfo[RG_QUERY_MAX_TERMS];
    char qtext[RG_QUERY_MAX_TERMS][RG_TOKEN_MAX_BYTES];
    size_t qlen[RG_QUERY_MAX_TERMS];
};

/* Term hash (FNV-1a) of the bytes s[0..n). */
uint64_t rg_lex_term_hash(const char *s, size_t n);
/* Id of the indexed term s[0..n), or -1. */
long rg_lex_term_find(const rg_lexical *lx, const char *s, size_t n);
/* Id of the indexed term a query token s[0..n) stands for: the token when
 * it is indexed, else, for one or two ideographs, their form in the other
 * Chinese script (a query in Simplified over Traditional text and the
 * reverse) that the most chunks hold; -1 when none is indexed. */
long rg_lex_query_term_find(const rg_lexical *lx, const char *s, size_t n);
/* Grows *pp (an array of elem-byte items with room for *cap) to hold need
 * items, doubling; 0 out of memory (the old array kept). */
int rg_lex_grow(void *pp, size_t *cap, size_t need, size_t elem);
/* An error from SQLite's rc on db, doing what. */
rg_status rg_lex_db_fail(rg_error *err, sqlite3 *db, int rc, const char *what);
/* Term frequencies in post[].w -> BM25 impacts from dl and total; sets
 * avgdl, post_max, and exhaustive when a list is out of chunk order. For
 * an index without a delta. */
void rg_lex_set_impacts(rg_lexical *lx);
/* The impact of a term tf times in a chunk of dl tokens, at average length avgdl. */
float rg_lex_impact(const rg_lexical *lx, double tf, double dl, double avgdl);
/* Term t's postings: up to two lists (main, delta) in p[] and n[]; returns
 * how many. */
size_t rg_lex_lists(const rg_lexical *lx, uint32_t t, const lex_post *p[2], size_t n[2]);
/* Where term t's entry starts its probe in dlists (dlist_mask + 1 entries). */
static inline size_t rg_lex_dlist_home(uint32_t t, size_t mask)
{
    return (t * 2654435761u) & mask;
}
/* Term t's list in the delta (its entry in dlists), or NULL. */
lex_dlist *rg_lex_dlist(const rg_lexical *lx, uint32_t t);
/* Chunks holding term t (dead ones included; -1: none). */
size_t rg_lex_df(const rg_lexical *lx, long t);
/* The largest impact of term t. */
float rg_lex_max_impact(const rg_lexical *lx, uint32_t t);
/* Term t's text. */
const char *rg_lex_term_text(const rg_lexical *lx, uint32_t t, size_t *n);
/* The delta's id of new term s[0..n) (not counting n_main_terms), or -1. */
long rg_lex_delta_term_find(const lex_delta *x, const char *s, size_t n);
/* Frees the delta and its postings, leaving none. */
void rg_lex_delta_clear(rg_lexical *lx);
/* The term hash and the per-query arrays, for n_terms and n_docs. */
rg_status rg_lex_build_hash(rg_lexical *lx, rg_error *err);
/* Frees the index arrays (not the tokenizer, the mutex or the handle). */
void rg_lex_free_index(rg_lexical *lx);
/* Tokenizer callback: query tokens -> distinct term texts in lx->qtext. */
int rg_lex_collect_term_text(void *ctx, const char *tok, size_t n, size_t start, size_t end,
                             int colocated);

#endif
