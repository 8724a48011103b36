/*
 * fuzz.h — what the fuzz build (meson -Dfuzz=true, clang; scripts/fuzz.sh)
 * changes in the code itself. Every object there carries libFuzzer's
 * coverage and comparison tracing, so that the fuzzers see inside libragd.
 *
 * RG_FUZZ_UNTRACED leaves a function out of that tracing: for the
 * code-point predicates, per-character steps and buffer appends that run
 * on every character of a document. Their branches are code-point ranges
 * and capacity checks, which tell the fuzzer nothing about the parsers
 * around them, and tracing them took a large share of the text loaders'
 * fuzzing time. AddressSanitizer still checks them. In other builds it is
 * empty.
 */
#ifndef RG_FUZZ_H
#define RG_FUZZ_H

#if defined(RG_FUZZ_BUILD) && defined(__clang__)
#define RG_FUZZ_UNTRACED __attribute__((no_sanitize("coverage")))
#else
#define RG_FUZZ_UNTRACED
#endif

#endif
