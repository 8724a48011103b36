"""`ragd eval` on a small generated BEIR-layout dataset: the measures it
prints must equal ir-measures' on the run file ragd wrote."""
import json
import os
import random
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SKIP, Checks, run, run_json, tempdir  # noqa: E402

try:
    import ir_measures
    from ir_measures import MRR, R, nDCG
except ImportError:
    print("SKIP: ir-measures is not installed (scripts/setup.sh installs it into .venv)")
    sys.exit(SKIP)

t = Checks("eval")
rng = random.Random(7)
words = [f"w{i}" for i in range(400)]
ds = tempdir("ragd-beir-")
docs = {}
with open(os.path.join(ds, "corpus.jsonl"), "w") as f:
    for i in range(300):
        did = f"d{i}"
        text = " ".join(rng.choice(words) for _ in range(rng.randint(20, 120)))
        docs[did] = text
        f.write(json.dumps({"_id": did, "title": f"doc {i}", "text": text}) + "\n")
qrels = []
with open(os.path.join(ds, "queries.jsonl"), "w") as f:
    for q in range(40):
        target = rng.sample(sorted(docs), 3)
        terms = rng.sample(docs[target[0]].split(), 3) + [rng.choice(words)]
        f.write(json.dumps({"_id": f"q{q}", "text": " ".join(terms)}) + "\n")
        for j, d in enumerate(target):
            qrels.append((f"q{q}", d, 2 if j == 0 else 1))
    # a query without judgments is not evaluated
    f.write(json.dumps({"_id": "unjudged", "text": "w1 w2"}) + "\n")
with open(os.path.join(ds, "qrels.tsv"), "w") as f:
    f.write("query-id\tcorpus-id\tscore\n")
    for q, d, g in qrels:
        f.write(f"{q}\t{d}\t{g}\n")

runfile = os.path.join(ds, "run.txt")
# lexical: the made-up words mean nothing to an encoder, and the default mode
# (hybrid when ./ragd-data holds a model) would depend on where this runs
p, r = run_json(["eval", "--dataset", ds, "--mode", "lexical", "--run", runfile])
t.check(p.returncode == 0 and r is not None, "eval runs", p.stderr)
if r:
    t.check(r["queries"] == 40 and r["documents"] == 300, "counts judged queries and documents",
            str(r))
    ref = ir_measures.calc_aggregate(
        [nDCG @ 10, R @ 10, R @ 100, MRR @ 10],
        list(ir_measures.read_trec_qrels(
            os.path.join(ds, "qrels.trec")) if False else
             [ir_measures.Qrel(q, d, g) for q, d, g in qrels]),
        list(ir_measures.read_trec_run(runfile)))
    for name, key in ((nDCG @ 10, "ndcg@10"), (R @ 10, "recall@10"), (R @ 100, "recall@100"),
                      (MRR @ 10, "mrr@10")):
        t.check(abs(ref[name] - r[key]) < 1e-4, f"{key} matches ir-measures",
                f"ragd {r[key]:.6f} vs ir-measures {ref[name]:.6f}")
    t.check(r["ndcg@10"] > 0.3, "the generated queries are mostly answerable", str(r))
    t.check(r["latency_ms"]["p50"] > 0 and r["latency_ms"]["p99"] >= r["latency_ms"]["p50"],
            "latency quantiles are reported")
    runs = open(runfile).read().splitlines()
    t.check(len(runs) > 0 and all(len(l.split()) == 6 for l in runs), "run file is TREC format")

# --depth N asks each query for N chunks: a run lists at most N documents a query
runfile3 = os.path.join(tempdir("ragd-eval-depth-"), "run3.txt")
p, r3 = run_json(["eval", "--dataset", ds, "--depth", "3", "--run", runfile3])
per_query = {}
for line in open(runfile3).read().splitlines() if p.returncode == 0 else []:
    per_query[line.split()[0]] = per_query.get(line.split()[0], 0) + 1
t.check(p.returncode == 0 and per_query and max(per_query.values()) <= 3 and r3 and
        r3["recall@100"] <= r["recall@100"],
        "--depth 3 ranks at most 3 documents a query", p.stderr + str(per_query)[:200])
p = run(["eval", "--dataset", ds, "--depth", "0"])
t.check(p.returncode == 2 and "--depth" in p.stderr, "--depth 0 is refused", p.stderr)

# text output names every measure
p = run(["eval", "--dataset", ds])
for label in ("nDCG@10", "Recall@10", "Recall@100", "MRR@10", "p50", "p99"):
    t.check(label in p.stdout, f"text output shows {label}", p.stdout)

# --answers: gold strings are compared in the stored text's form. Chinese
# gold answers carry full-width commas, brackets and digits that NFKC folds
# at ingest; compared raw they would never match and a right answer would
# count as wrong (cmrc2018: 773 of its 4,219 questions).
zh = tempdir("ragd-beir-zh-")
zh_docs = {
    "z0": "小王子是法国作家安托万·德·圣埃克苏佩里于１９４２年写成的著名儿童文学短篇小说。"
          "本书的主人公是来自外星球的小王子。",
    "z1": "长江是亚洲第一长河，全长６３００公里，流经青海、西藏、四川、云南等省份。",
    "z2": "珠穆朗玛峰是喜马拉雅山脉的主峰，位于中国与尼泊尔边境线上（海拔８８４８米）。",
}
zh_q = {"zq0": ("小王子是哪一年写成的？", ["１９４２年"]),
        "zq1": ("长江全长多少公里？", ["全长６３００公里"]),
        "zq2": ("珠穆朗玛峰海拔多少米？", ["（海拔８８４８米）"])}
with open(os.path.join(zh, "corpus.jsonl"), "w") as f:
    for d, text in zh_docs.items():
        f.write(json.dumps({"_id": d, "title": "", "text": text}, ensure_ascii=False) + "\n")
with open(os.path.join(zh, "queries.jsonl"), "w") as f, \
        open(os.path.join(zh, "answers.jsonl"), "w") as fa, \
        open(os.path.join(zh, "qrels.tsv"), "w") as fq:
    fq.write("query-id\tcorpus-id\tscore\n")
    for i, (q, (text, gold)) in enumerate(zh_q.items()):
        f.write(json.dumps({"_id": q, "text": text}, ensure_ascii=False) + "\n")
        fa.write(json.dumps({"id": q, "answers": gold}, ensure_ascii=False) + "\n")
        fq.write(f"{q}\tz{i}\t1\n")
p, r = run_json(["eval", "--dataset", zh, "--mode", "lexical", "--answers"])
if t.check(p.returncode == 0 and r is not None, "eval --answers runs on full-width gold answers",
           p.stderr):
    t.check(r["gold_share"] == 1.0, "full-width gold answers match the NFKC-folded answers",
            str(r))
    t.check(r["citation_precision"] == 1.0, "and the chunks the answers cite", str(r))
shutil.rmtree(zh, ignore_errors=True)

# errors
p = run(["eval", "--dataset", os.path.join(ds, "missing")])
t.check(p.returncode == 1 and "not found" in p.stderr, "missing dataset folder is a clear error")
with open(os.path.join(ds, "corpus.jsonl"), "a") as f:
    f.write("{not json\n")
p = run(["eval", "--dataset", ds])
t.check(p.returncode == 1 and "corpus.jsonl:301" in p.stderr, "bad corpus line is named",
        p.stderr)

shutil.rmtree(ds, ignore_errors=True)
t.done()
