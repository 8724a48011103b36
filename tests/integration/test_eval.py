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
p, r = run_json(["eval", "--dataset", ds, "--run", runfile])
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

# text output names every measure
p = run(["eval", "--dataset", ds])
for label in ("nDCG@10", "Recall@10", "Recall@100", "MRR@10", "p50", "p99"):
    t.check(label in p.stdout, f"text output shows {label}", p.stdout)

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
