"""Cited answers through the real binary with the real all-MiniLM-L6-v2
weights and the extractive generator: answers to the corpus questions
contain their gold strings, every citation points at a real chunk that
holds its quoted passage, and a question the corpus cannot answer is
refused under the dense threshold."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checks, corpus_and_queries, model_or_skip, run, run_json, sanitized, tempdir  # noqa: E402

MODEL = model_or_skip()

# Measured: 26 of 30 corpus questions (0.87) with hybrid retrieval and the
# extractive answerer; the gate leaves room for small ranking changes.
MIN_GOLD_SHARE = 0.75

t = Checks("ask")
corpus, queries = corpus_and_queries(extra=("it/vpn-setup-guide.html",))
data = tempdir()

p = run(["model", "import", MODEL], data=data)
t.check(p.returncode == 0, "model import", p.stderr)
p, s = run_json(["ingest", corpus], data=data)
t.check(p.returncode == 0 and s and s["failed"] == 0, "ingest the corpus", p.stderr)


gold, bad_cites, answers = 0, [], []
for q in queries:
    p, a = run_json(["ask", q["query"]], data=data)
    if not t.check(p.returncode == 0 and a is not None, "ask answers: " + q["query"], p.stderr):
        continue
    answers.append(a)
    if q["answer"] in a["answer"]:
        gold += 1
    for c in a["citations"]:
        if f"[{c['number']}]" not in a["answer"]:
            bad_cites.append((q["query"], "number not in text", c["number"]))
        # the cited chunk is real and holds the passage: fetch it by searching its passage
        p2, r = run_json(["search", "--mode", "lexical", "-k", "50", c["passage"][:300]], data=data)
        hit = [h for h in (r or {}).get("results", []) if h["chunk_id"] == c["chunk_id"]]
        if not hit or c["passage"] not in hit[0]["text"] or hit[0]["source"] != c["source"] \
                or hit[0]["document_id"] != c["document_id"]:
            bad_cites.append((q["query"], c["chunk_id"], c["passage"][:60]))
share = gold / len(queries)
print(f"gold answer string in the answer: {gold}/{len(queries)} = {share:.2f}", file=sys.stderr)
# The sanitizer pass runs a small subset for memory checking, not quality.
t.check(sanitized() or share >= MIN_GOLD_SHARE, f"gold share {share:.2f} >= {MIN_GOLD_SHARE}")
t.check(not bad_cites, "every citation points at a real chunk holding its passage", str(bad_cites))
t.check(all(a["citations"] and [c["number"] for c in a["citations"]] ==
            list(range(1, len(a["citations"]) + 1)) for a in answers if not a["refused"]),
        "citations are numbered 1..n by first use")
t.check(all(a["generator"] == "extractive" and a["ai_generated"] for a in answers),
        "answers name the extractive generator")
t.check(all(a["supported_share"] == 1.0 for a in answers),
        "every extracted sentence passes the citation check")

# refusal: dense cosine is the score with an absolute meaning (answer.h);
# corpus questions score >= 0.42, these <= 0.21 with MiniLM
for absent in ("what is the capital of France", "how do I bake sourdough bread"):
    p, a = run_json(["ask", "--mode", "dense", absent], data=data)
    t.check(p.returncode == 0 and a and a["refused"] and not a["citations"]
            and "do not contain" in a["answer"], "refused: " + absent, p.stdout + p.stderr)
p, a = run_json(["ask", "--mode", "dense", queries[0]["query"]], data=data)
t.check(a and not a["refused"], "an answerable question passes the dense threshold", p.stdout)
p, a = run_json(["ask", "--mode", "dense", "--min-similarity", "0.99", queries[0]["query"]], data=data)
t.check(a and a["refused"] and "threshold" in a["refusal_reason"], "--min-similarity raises the bar",
        p.stdout)

# the default mode (hybrid) judges relevance on the dense leg's similarity
p, a = run_json(["ask", "what is the capital of France"], data=data)
t.check(a and a["refused"] and a["relevance"]["signal"] == "similarity"
        and a["relevance"]["value"] < 0.25, "hybrid refuses on similarity", p.stdout)
# a Chinese question: the English model's dense leg is skipped, so relevance
# is the share of the question's terms the best chunk holds
p, a = run_json(["ask", "年資滿3年特休有幾天"], data=data)
t.check(a and not a["refused"] and a["relevance"]["signal"] == "coverage"
        and 0 < a["relevance"]["value"] < 1, "coverage lets an answerable Chinese question through",
        p.stdout)
# a near miss: its words are the handbook's (公司, 代號) but not its answer;
# coverage 0.21 is below the CJK threshold 0.25 (answer.h). The sanitizer
# pass's few documents are below RG_ANSWER_CJK_MIN_CHUNKS: base threshold.
p, a = run_json(["ask", "公司股票代號是什麼"], data=data)
t.check(a and a["refused"] and a["relevance"]["signal"] == "coverage"
        and (sanitized() or (0.1 < a["relevance"]["value"] < 0.25
                             and "0.2500" in a["refusal_reason"])),
        "a Chinese near miss is refused under the CJK coverage threshold", p.stdout)
p, a = run_json(["ask", "火星表面的平均溫度是多少"], data=data)
t.check(a and a["refused"] and a["relevance"]["signal"] == "coverage"
        and a["answer"].startswith("文件中沒有"), "coverage refuses a Chinese question the corpus cannot answer",
        p.stdout)
# the same question in Simplified over the Traditional handbook: it meets
# the same passage with the same coverage (engine/base/zh.h)
p, ta = run_json(["ask", "年度健康檢查補助多少"], data=data)
p2, sa = run_json(["ask", "年度健康检查补助多少"], data=data)
t.check(ta and sa and abs(sa["relevance"]["value"] - ta["relevance"]["value"]) < 1e-9,
        "a Simplified question has the Traditional one's coverage", p2.stdout)
# (the sanitizer pass's subset is too small for its coverage to pass)
t.check(sanitized() or sa and not sa["refused"] and "8,000" in sa["answer"]
        and sa["citations"][0]["source"].endswith("hr/benefits-overview.md"),
        "a Simplified question finds the Traditional passage", p2.stdout)
p, a = run_json(["ask", "--mode", "lexical", "--min-coverage", "0.99", "which UDP port does the VPN connect on"],
                data=data)
t.check(a and a["refused"] and "coverage" in a["refusal_reason"], "--min-coverage raises the bar",
        p.stdout)

# the text form is labelled and lists its sources
p = run(["ask", "which UDP port does the VPN connect on"], data=data)
t.check(p.returncode == 0 and "AI-generated, extracted from the documents" in p.stdout
        and "Sources:" in p.stdout and "vpn-setup-guide.html" in p.stdout, "text output", p.stdout)
p = run(["ask"], data=data)
t.check(p.returncode == 2, "ask without a question is a usage error", p.stderr)
t.done()
