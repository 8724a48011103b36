/*
 * gen_ollama.h — the generator that asks an Ollama server through
 * POST {base_url}/api/chat.
 *
 * Options, timeouts, retries and the SSRF guard are those of the
 * OpenAI-compatible generator (rg_llm_options, gen_openai.h); temperature
 * and max_tokens travel as options.temperature and options.num_predict.
 * A streamed answer is newline-delimited JSON (sse.h): each line's
 * message.content goes to the token callback as it arrives, a line with
 * "error" fails the call with the server's message, and the answer is
 * complete at "done": true; a stream that ends before it was cut (RG_ENET).
 * Ollama listens on loopback (http://127.0.0.1:11434) by default, which the
 * options must allow (RG_HTTP_ALLOW_LOOPBACK).
 */
#ifndef RG_RAG_GEN_OLLAMA_H
#define RG_RAG_GEN_OLLAMA_H

#include "engine/base/status.h"
#include "engine/rag/gen_openai.h"
#include "engine/rag/generator.h"

#define RG_OLLAMA_DEFAULT_URL "http://127.0.0.1:11434"

/*
 * Makes an Ollama generator in *out (close it with rg_generator_close).
 * Strings of opt are copied. Errors: as rg_openai_open.
 */
rg_status rg_ollama_open(const rg_llm_options *opt, rg_generator *out, rg_error *err);

#endif
