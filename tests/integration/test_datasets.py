"""Quality gates on the development datasets in ../shared/datasets (BEIR
layout). Skips clearly when the folder is absent: the data is not part of
the project."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SKIP, Checks, run_json, source_root  # noqa: E402

base = os.environ.get("RAGD_DATASETS") or os.path.join(source_root(), "..", "shared", "datasets")
if not os.path.isdir(base):
    print(f"SKIP: no evaluation datasets at {base}")
    sys.exit(SKIP)
if os.environ.get("RAGD_SANITIZED"):
    print("SKIP: dataset gates run in the optimised build only")
    sys.exit(SKIP)

t = Checks("datasets")
# (dataset, measure, minimum): the gates of the foundation issue.
gates = [("scifact", "ndcg@10", 0.65), ("cmrc2018", "recall@10", 0.95)]
ran = 0
for name, key, minimum in gates:
    ds = os.path.join(base, name)
    if not os.path.isdir(ds):
        print(f"note: {ds} absent, gate skipped")
        continue
    ran += 1
    p, r = run_json(["eval", "--dataset", ds], timeout=1800)
    ok = p.returncode == 0 and r is not None
    t.check(ok, f"eval {name} runs", p.stderr)
    if ok:
        print(f"{name}: nDCG@10 {r['ndcg@10']:.4f} R@10 {r['recall@10']:.4f} "
              f"R@100 {r['recall@100']:.4f} MRR@10 {r['mrr@10']:.4f} "
              f"p50 {r['latency_ms']['p50']:.2f} ms p99 {r['latency_ms']['p99']:.2f} ms")
        t.check(r[key] >= minimum, f"{name} {key} >= {minimum}", f"got {r[key]:.4f}")
if not ran:
    print("SKIP: none of the gated datasets is present")
    sys.exit(SKIP)
t.done()
