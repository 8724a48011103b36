/*
 * rewrite.h — multi-turn conversations: a follow-up question ("How long is
 * it?", "那台北呢？") is rewritten into one standalone search query before
 * retrieval, so that the search sees the topic the conversation set.
 *
 * Two ways to rewrite, tried in this order:
 *   llm    A generator (generator.h) is sent a small prompt: a system message
 *          asking for the last user message as one standalone search query
 *          in its own language, pronouns and ellipsis resolved from the
 *          conversation, and nothing else; a user message holding the most
 *          recent turns and the follow-up, made inert (rg_text_neutralise)
 *          and marked as data. No sources go with it. The reply is cleaned
 *          (rg_rewrite_clean); a failure, a timeout, a cut, empty, garbled,
 *          overlong or other-language reply falls back to the plain rewrite.
 *   plain  Deterministic, no LLM. A follow-up that looks self-contained is
 *          kept as it is. One that looks dependent gets the previous user
 *          question(s) put before it, so retrieval sees their topic.
 *          Dependent means (rg_rewrite_is_followup):
 *          - English: it opens with a continuation ("and", "also", "or",
 *            "but", "so", "then", "same", "what about", "how about",
 *            "what else"), or holds a pronoun that points back (it, its,
 *            they, them, their, this, that, these, those, he, she, him,
 *            his, her; written in capitals, "IT" is the acronym);
 *          - Chinese (Traditional and Simplified): it opens with 那 (那麼),
 *            而, 另外, 以及, 和, 跟, 也, 同樣/同样, 至於/至于, holds 它 (not
 *            其它), 他們/他们, 她們/她们, 這個/这个, 那個/那个, 這些/这些,
 *            那些, 這樣/这样, 那樣/那样, 還有/还有, or ends with 呢;
 *          - either: it is short, fewer than 2 content terms (English words
 *            other than stop words, numbers, and Chinese characters other
 *            than question and function characters such as 多少幾几嗎吗是有).
 *          The previous user turns are taken newest first until one that
 *          is itself self-contained, at most RG_REWRITE_PLAIN_TURNS of them
 *          and RG_REWRITE_PLAIN_TOPIC_BYTES in all; assistant turns are not
 *          used (answers are long and their wording is the documents').
 *          Limits of the heuristic: it knows English and Chinese only (other
 *          languages are judged by length alone); "that" as a conjunction
 *          ("the policy that covers travel") and a short self-contained
 *          question ("停車", "Parking?") count as dependent, so they search
 *          with the previous question's words too; a dependent-looking
 *          question that changed the subject keeps the old topic; a
 *          reference to the assistant's answer ("the second one") is not
 *          resolved; it adds words, it never removes or replaces them.
 *
 * A conversation is an array of turns, oldest first, not counting the
 * follow-up itself; system messages are not turns (rg_history_from_json
 * drops them). For an OpenAI-style messages array whose last message is
 * the user's question (/v1/chat/completions), that last message is the
 * question and the messages before it the history.
 */
#ifndef RG_RAG_REWRITE_H
#define RG_RAG_REWRITE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "engine/base/status.h"
#include "engine/rag/gen_openai.h"
#include "engine/rag/generator.h"

/* ---- Limits ---- */

/* Most turns a history may hold (RG_ELIMIT beyond). */
#define RG_HISTORY_MAX_TURNS 64
/* Longest content of one turn, and of all turns together (bytes; RG_ELIMIT beyond). */
#define RG_HISTORY_TURN_MAX_BYTES (32u << 10)
#define RG_HISTORY_MAX_BYTES      (128u << 10)
/* Longest JSON text of a history a reader should accept (escapes included). */
#define RG_HISTORY_JSON_MAX_BYTES (1u << 20)
/* Most recent turns the LLM is shown, each cut to this many bytes. */
#define RG_REWRITE_CONTEXT_TURNS      6
#define RG_REWRITE_CONTEXT_TURN_BYTES 1000
/* Previous user turns the plain rewrite may prepend, and their bytes in all. */
#define RG_REWRITE_PLAIN_TURNS       3
#define RG_REWRITE_PLAIN_TOPIC_BYTES 600
/* Longest reply read from the LLM, and longest query kept from it (bytes). */
#define RG_REWRITE_OUTPUT_MAX_BYTES 4096
#define RG_REWRITE_QUERY_MAX_BYTES  400
/* What rg_rewrite_llm_options gives a rewriting LLM (see there). */
#define RG_REWRITE_TIMEOUT_MS  20000
#define RG_REWRITE_MAX_TOKENS  96
#define RG_REWRITE_MAX_RETRIES 1

/* ---- Conversations ---- */

typedef enum rg_role {
    RG_ROLE_USER,
    RG_ROLE_ASSISTANT,
} rg_role;

/* "user" or "assistant". Static. */
const char *rg_role_name(rg_role r);

/* One turn. content is borrowed UTF-8, NUL-terminated; it may be empty. */
typedef struct rg_turn {
    rg_role role;
    const char *content;
} rg_turn;

/*
 * Checks turns[0..n) against the limits above. turns may be NULL when n is
 * 0. Errors: RG_EINVAL (NULL turns or content, a role that is neither),
 * RG_ELIMIT (too many turns, a turn or all of them too long), RG_EUTF8.
 */
rg_status rg_history_check(const rg_turn *turns, size_t n, rg_error *err);

/* A history read from JSON: owns its turns and their text. */
typedef struct rg_history {
    rg_turn *turns; /* never NULL after a successful read, even when n is 0 */
    size_t n;
    char *text; /* the contents, one block the turns point into */
} rg_history;

/*
 * Reads an OpenAI-style messages array: objects with "role" ("user",
 * "assistant"; "system" and "developer" are skipped) and "content" (a
 * string, an array of {"type": "text", "text": ...} parts, which are
 * joined, or null for an assistant turn, taken as empty). *out is the
 * caller's (rg_history_free), also after a failure. Errors name the
 * message by index: RG_EPARSE (not an array, a message that is not an
 * object, a missing or non-string role or content), RG_EINVAL (another
 * role), and those of rg_history_check.
 */
rg_status rg_history_from_json(const cJSON *messages, rg_history *out, rg_error *err);
void rg_history_free(rg_history *h);

/* ---- Rewriting ---- */

typedef enum rg_rewrite_method {
    RG_REWRITE_NONE,          /* no earlier turns: the question is the query */
    RG_REWRITE_LLM,           /* the LLM's rewrite */
    RG_REWRITE_PLAIN,         /* the plain rewrite; no LLM was given */
    RG_REWRITE_PLAIN_FALLBACK /* the plain rewrite, after the LLM failed */
} rg_rewrite_method;

/* "none", "llm", "plain", "plain-fallback". Static. */
const char *rg_rewrite_method_name(rg_rewrite_method m);

typedef struct rg_rewrite_options {
    /* borrowed, may be NULL: the plain rewrite. The extractive generator
       cannot rewrite, so it means the plain rewrite too. */
    rg_generator *llm;
    const volatile int *cancel; /* may be NULL; passed to the LLM */
} rg_rewrite_options;

rg_rewrite_options rg_rewrite_default_options(void);

/*
 * Options for an LLM instance that only rewrites: those of the answering
 * LLM with temperature 0, at most RG_REWRITE_MAX_TOKENS tokens, no
 * streaming, at most RG_REWRITE_MAX_RETRIES retries and a deadline of
 * RG_REWRITE_TIMEOUT_MS (or the answering one's when shorter), so that a
 * slow server costs a bounded delay before the plain fallback.
 */
rg_llm_options rg_rewrite_llm_options(const rg_llm_options *answering);

typedef struct rg_rewrite {
    char *query; /* owned (rg_rewrite_free): what retrieval is given */
    rg_rewrite_method method;
    double ms;                     /* time the rewrite took, LLM call included */
    char reason[RG_ERROR_MSG_MAX]; /* plain-fallback: why the LLM's rewrite was not used */
} rg_rewrite;

/*
 * Rewrites question, the follow-up to history[0..n), into a standalone
 * query in *out (zeroed first; the caller frees it with rg_rewrite_free).
 * An LLM failure is no error: the plain rewrite is used and out->reason
 * says why. Errors (*out then empty): RG_EINVAL (empty question), RG_EUTF8,
 * those of rg_history_check, RG_ENOMEM.
 */
rg_status rg_rewrite_query(const rg_turn *history, size_t n, const char *question,
                           const rg_rewrite_options *opt, rg_rewrite *out, rg_error *err);
void rg_rewrite_free(rg_rewrite *r);

/* ---- The parts, for tests and for callers that want one of them ---- */

/* 1 if question looks like it depends on the conversation (see the top). */
int rg_rewrite_is_followup(const char *question);

/*
 * The plain rewrite of question after history[0..n) (checked by the
 * caller): *out is the caller's (rg_free). Errors: RG_ENOMEM.
 */
rg_status rg_rewrite_plain(const rg_turn *history, size_t n, const char *question, char **out,
                           rg_error *err);

/*
 * Cleans an LLM's reply text[0..n) into one query for question: a
 * <think>...</think> part, preamble lines ending in ':', bullets, labels
 * ("Query:", "Standalone query:", "查詢：", "问题：" ...), surrounding quotes,
 * backticks and asterisks are dropped; the first line left is the query,
 * its white space runs made one space. *out is the caller's (rg_free).
 * Errors (*out NULL): RG_EUTF8, RG_EPARSE (nothing left, no letter or
 * digit, or not in the question's script: Chinese for a Chinese question,
 * not Chinese for another), RG_ELIMIT (longer than
 * RG_REWRITE_QUERY_MAX_BYTES), RG_ENOMEM.
 */
rg_status rg_rewrite_clean(const char *text, size_t n, const char *question, char **out,
                           rg_error *err);

#endif
