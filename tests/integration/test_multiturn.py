"""Follow-up questions in a conversation through the real binary
(`ragd ask --history`): a follow-up that names no topic ("How long is
it?", "那每個月要付多少錢？", "那年满40岁呢？") finds its document as the top
source only because it is rewritten with the conversation (the plain
rewrite: no LLM here), in English, Traditional and Simplified Chinese;
without the history the same words find another document or nothing.
Without --history the answer carries no rewrite fields; a malformed
--history is a usage error with one error line."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Checks, one_error_line, ragd_path, run, run_json,  # noqa: E402
                     sanitized, source_root, tempdir, test_model)

# (language, earlier turns, follow-up, the document that answers it, a string of its answer)
CASES = [
    ("en",
     [{"role": "system", "content": "You are a helpful assistant."},
      {"role": "user", "content": "Is there a deadline for submitting expense reports?"},
      {"role": "assistant", "content": "Yes: submit every expense report within 30 days [1]."}],
     "How long is it?", "hr/expense-travel-policy.md", "30 days"),
    ("zh-Hant",
     [{"role": "user", "content": "台北辦公室的汽車位怎麼申請？"},
      {"role": "assistant", "content": "公司承租的汽車位採每季抽籤分配 [1]。"}],
     "那每個月要付多少錢？", "offices/taipei-office-guide.html", "3,000"),
    ("zh-Hans",
     [{"role": "user", "content": "年度健康检查补助多少？"},
      {"role": "assistant", "content": "每位員工每年新台幣 8,000 元 [1]。"}],
     # not "那年满40岁呢": that phrase is in the handbook (年滿40歲), which a
     # Simplified question now finds on its own (engine/base/zh.h)
     "那当天要请假吗？", "hr/benefits-overview.md", None),
]

t = Checks("multiturn")
data, files = tempdir(), tempdir("ragd-history-")
# The sanitizer pass runs lexical-only (no encoder): the rewrite is what is
# under test, and these follow-ups behave alike in both modes.
model = None if sanitized() else test_model()
if model:
    p = run(["model", "import", model], data=data)
    t.check(p.returncode == 0, "model import", p.stderr)
p, s = run_json(["ingest", os.path.join(source_root(), "corpus")], data=data)
if not t.check(p.returncode == 0 and s and s["failed"] == 0, "ingest the corpus", p.stderr):
    t.done()


def history_file(name, turns):
    path = os.path.join(files, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(turns if isinstance(turns, str) else json.dumps(turns, ensure_ascii=False))
    return path


def top_source(a):
    return a["citations"][0]["source"] if a and a["citations"] else None


for lang, turns, follow, doc, gold in CASES:
    hist = history_file(lang + ".json", turns)
    # without the conversation: retrieval misses the document (or finds nothing)
    p, r = run_json(["search", "-k", "1", follow], data=data)
    top = r["results"][0]["source"] if r and r["results"] else None
    t.check(p.returncode == 0 and not (top or "").endswith(doc),
            f"{lang}: the follow-up alone does not retrieve {doc} first", str(top))
    p, alone = run_json(["ask", follow], data=data)
    t.check(p.returncode == 0 and alone and not (top_source(alone) or "").endswith(doc),
            f"{lang}: the follow-up alone is not answered from {doc}", str(top_source(alone)))
    t.check(alone and "rewrite" not in alone and "rewritten_query" not in alone
            and "rewrite" not in alone["timings_ms"],
            f"{lang}: without --history the answer has no rewrite fields", str(alone)[:300])
    # with it: the standalone query carries the topic, and the document is the top source
    p, a = run_json(["ask", "--history", hist, follow], data=data)
    if not t.check(p.returncode == 0 and a is not None, f"{lang}: ask --history answers",
                   p.stderr):
        continue
    first_user = [m["content"] for m in turns if m["role"] == "user"][-1]
    t.check(a["rewrite"]["method"] == "plain" and a["rewritten_query"] == first_user + " " + follow,
            f"{lang}: the plain rewrite puts the previous question first",
            json.dumps(a.get("rewrite"), ensure_ascii=False) + " " + a.get("rewritten_query", ""))
    t.check(not a["refused"] and (top_source(a) or "").endswith(doc),
            f"{lang}: with the history the top source is {doc}", str(top_source(a)))
    t.check(gold is None or gold in a["answer"], f"{lang}: the answer holds '{gold}'", a["answer"])
    t.check(a["question"] == follow, f"{lang}: the answer names the question as asked")
    tm = a["timings_ms"]
    t.check(0 <= a["rewrite"]["ms"] == tm["rewrite"] <= tm["total"] and a["rewrite"]["ms"] < 50,
            f"{lang}: the rewrite is timed, within the total", str(tm))
    print(f"{lang}: rewrite {a['rewrite']['ms']:.3f} ms, total {tm['total']:.1f} ms",
          file=sys.stderr)

# a self-contained question keeps its words; an empty conversation rewrites nothing
en_hist = os.path.join(files, "en.json")
q = "which UDP port does the VPN connect on"
p, a = run_json(["ask", "--history", en_hist, q], data=data)
t.check(p.returncode == 0 and a and a["rewritten_query"] == q and a["rewrite"]["method"] == "plain"
        and "51820" in a["answer"], "a self-contained follow-up is searched as it is",
        str(a and a.get("rewritten_query")))
p, a = run_json(["ask", "--history", history_file("empty.json", "[]"), "How long is it?"],
                data=data)
t.check(p.returncode == 0 and a and a["rewrite"]["method"] == "none"
        and a["rewritten_query"] == "How long is it?", "an empty history: method none",
        str(a and a.get("rewrite")))

# --history - reads standard input; the text form shows the query searched
p = subprocess.run([ragd_path(), "--data", data, "ask", "--history", "-", "How long is it?"],
                   input=json.dumps(CASES[0][1]), capture_output=True, text=True, timeout=300)
t.check(p.returncode == 0 and "Searched for (the follow-up rewritten, plain): Is there a deadline"
        in p.stdout and "expense-travel-policy.md" in p.stdout, "--history - and the text form",
        p.stdout[:400] + p.stderr)

# malformed histories: exit 2 and one error line that names the option
big_turn = "x" * (32 * 1024 + 1)
BAD = {
    "not JSON": "[{\"role\": \"user\", \"content\": ",
    "not an array": "{\"role\": \"user\", \"content\": \"hi\"}",
    "a message that is not an object": "[\"hi\"]",
    "a wrong role": "[{\"role\": \"tool\", \"content\": \"hi\"}]",
    "no content": "[{\"role\": \"user\"}]",
    "content that is not text": "[{\"role\": \"user\", \"content\": 7}]",
    "too many turns": json.dumps([{"role": "user", "content": "q"}] * 65),
    "a turn too large": json.dumps([{"role": "user", "content": big_turn}]),
    "a file too large": " " * (1024 * 1024 + 1) + "[]",
}
for what, text in BAD.items():
    path = history_file("bad.json", text)
    p = run(["ask", "--history", path, "How long is it?"], data=data)
    t.check(p.returncode == 2 and one_error_line(p.stderr) and "--history" in p.stderr
            and not p.stdout, f"malformed --history ({what}): exit 2, one error line",
            f"{p.returncode} {p.stderr.strip()[:200]}")
p = run(["ask", "--history", os.path.join(files, "missing.json"), "How long is it?"], data=data)
t.check(p.returncode == 2 and one_error_line(p.stderr), "a missing --history file: exit 2",
        p.stderr)
p = run(["ask", "--help"])
t.check(p.returncode == 0 and "--history FILE" in p.stdout, "ask --help names --history")
t.done()
