"""Quality gates on the development datasets in ../shared/datasets (BEIR
layout). Skips clearly when the folder is absent: the data is not part of
the project.

The default run gates BM25 on scifact and cmrc2018 and the dense and hybrid
legs on the small collections; RAGD_EVAL_LONG=1 (scripts/eval-quality.sh)
adds dense and hybrid on scifact and vaswani, which take minutes to embed
on two cores."""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SKIP, Checks, run, run_json, source_root, tempdir, test_model  # noqa: E402

base = os.environ.get("RAGD_DATASETS") or os.path.join(source_root(), "..", "shared", "datasets")
if not os.path.isdir(base):
    print(f"SKIP: no evaluation datasets at {base}")
    sys.exit(SKIP)
if os.environ.get("RAGD_SANITIZED"):
    print("SKIP: dataset gates run in the optimised build only")
    sys.exit(SKIP)
# the small model under scripts/valgrind.sh --small-model (its gates fail by design)
MODEL = test_model()

LONG = bool(os.environ.get("RAGD_EVAL_LONG"))
t = Checks("datasets")
results = {}


def evaluate(name, mode, data):
    p, r = run_json(["eval", "--dataset", os.path.join(base, name), "--mode", mode],
                    data=data, timeout=5400)
    ok = t.check(p.returncode == 0 and r is not None, f"eval {name} --mode {mode} runs",
                 p.stderr[-2000:])
    if ok:
        print(f"{name:9} {mode:7}: nDCG@10 {r['ndcg@10']:.4f} R@10 {r['recall@10']:.4f} "
              f"R@100 {r['recall@100']:.4f} MRR@10 {r['mrr@10']:.4f} "
              f"p50 {r['latency_ms']['p50']:.2f} ms p99 {r['latency_ms']['p99']:.2f} ms")
        results[(name, mode)] = r
    return r if ok else None


def answers(data):
    """cmrc2018 answered by the extractive answerer (lexical retrieval: the
    English model has nothing to add to Chinese questions; its tokenizer
    still cuts the chunks, as in a store bound to it), then with half
    the paragraphs held out for the refusal rates. The floors sit just under
    what this build measures; the targets are noted beside them."""
    ds = os.path.join(base, "cmrc2018")
    p, r = run_json(["eval", "--dataset", ds, "--mode", "lexical", "--answers"], data=data,
                    timeout=3600)
    if t.check(p.returncode == 0 and r is not None, "eval cmrc2018 --answers runs", p.stderr[-2000:]):
        print(f"cmrc2018 answers: gold {r['gold_share']:.4f} citation precision "
              f"{r['citation_precision']:.4f} overhead p50 {r['overhead_p50_ms']:.2f} ms")
        t.check(r["gold_share"] >= 0.70, "cmrc2018 gold answer in >= 0.70 of answers",
                f"{r['gold_share']:.4f}")
        # Measured: 0.9567 (Chinese paragraphs cut at the lexical target,
        # 512 tokens: the English model cannot read them; 0.8795 at 200).
        t.check(r["citation_precision"] >= 0.95, "cmrc2018 citation precision >= 0.95",
                f"{r['citation_precision']:.4f}")
        t.check(r["overhead_p50_ms"] <= 5, "ragd's own time per answer p50 <= 5 ms",
                f"{r['overhead_p50_ms']:.2f}")
    p, r = run_json(["eval", "--dataset", ds, "--mode", "lexical", "--answers", "--holdout"],
                    data=data, timeout=3600)
    if t.check(p.returncode == 0 and r is not None, "eval cmrc2018 --answers --holdout runs",
               p.stderr[-2000:]):
        print(f"cmrc2018 holdout: refused {r['refused_unanswerable']:.4f} of unanswerable, "
              f"{r['refused_answerable']:.4f} of answerable")
        t.check(r["unanswerable"] > 1000 and r["answerable"] > 1000,
                "the holdout splits the questions", f"{r['unanswerable']} / {r['answerable']}")
        # Measured: 0.8656 / 0.0343 (the CJK coverage threshold 0.25, seams
        # between words left out of the ideal; README, Answers).
        t.check(r["refused_unanswerable"] >= 0.80, "unanswerable questions refused >= 0.80",
                f"{r['refused_unanswerable']:.4f}")
        t.check(r["refused_answerable"] <= 0.10, "answerable questions refused <= 0.10",
                f"{r['refused_answerable']:.4f}")


def refusals(data):
    """cisi's questions over cisi (answerable) and scifact's over cisi (they
    cannot be answered there): the similarity threshold's trade-off."""
    p, r = run_json(["eval", "--dataset", os.path.join(base, "cisi"), "--answers",
                     "--unanswerable", os.path.join(base, "scifact")], data=data, timeout=3600)
    if t.check(p.returncode == 0 and r is not None, "eval cisi --answers --unanswerable scifact runs",
               p.stderr[-2000:]):
        print(f"cisi refusals: {r['refused_unanswerable']:.4f} of scifact's questions, "
              f"{r['refused_answerable']:.4f} of cisi's")
        t.check(r["refused_unanswerable"] >= 0.80, "unanswerable questions refused >= 0.80",
                f"{r['refused_unanswerable']:.4f}")
        t.check(r["refused_answerable"] <= 0.10, "answerable questions refused <= 0.10",
                f"{r['refused_answerable']:.4f}")


ran = 0
for name in ("scifact", "cranfield", "cisi", "vaswani", "cmrc2018"):
    if not os.path.isdir(os.path.join(base, name)):
        print(f"note: {name} absent, its gates skipped")
        continue
    ran += 1
    data = tempdir(f"ragd-ds-{name}-")
    dense = MODEL and (LONG or name in ("cranfield", "cisi", "cmrc2018"))
    if dense:
        run(["model", "import", MODEL], data=data)
    modes = ("lexical", "dense", "hybrid") if dense else ("lexical",)
    if name == "cmrc2018" and not LONG:
        # Its gate is on hybrid; the English model's dense leg alone (nDCG@10
        # about 0.21) costs a query embedding per each of 4,219 questions.
        modes = ("lexical", "hybrid") if dense else modes
    for mode in modes:
        evaluate(name, mode, data)
    if name == "cmrc2018":
        answers(data)
    if name == "cisi" and dense and os.path.isdir(os.path.join(base, "scifact")):
        refusals(data)
    shutil.rmtree(data, ignore_errors=True)
    lex, den, hyb = (results.get((name, m)) for m in ("lexical", "dense", "hybrid"))
    if name == "scifact" and lex:
        t.check(lex["ndcg@10"] >= 0.65, "scifact BM25 nDCG@10 >= 0.65", f"{lex['ndcg@10']:.4f}")
    if name == "scifact" and den:
        t.check(den["ndcg@10"] >= 0.640, "scifact dense nDCG@10 >= 0.640", f"{den['ndcg@10']:.4f}")
    if name == "scifact" and hyb:
        t.check(hyb["ndcg@10"] >= 0.69, "scifact hybrid nDCG@10 >= 0.69", f"{hyb['ndcg@10']:.4f}")
    if name == "cmrc2018" and lex:
        t.check(lex["recall@10"] >= 0.95, "cmrc2018 BM25 Recall@10 >= 0.95",
                f"{lex['recall@10']:.4f}")
    if name == "cmrc2018" and hyb:
        t.check(hyb["recall@10"] >= 0.97, "cmrc2018 hybrid Recall@10 >= 0.97",
                f"{hyb['recall@10']:.4f}")
    if name in ("cranfield", "cisi", "vaswani") and lex and den and hyb:
        floor = max(lex["ndcg@10"], den["ndcg@10"]) - 0.005
        t.check(hyb["ndcg@10"] >= floor, f"{name} hybrid >= max(BM25, dense) - 0.005",
                f"hybrid {hyb['ndcg@10']:.4f}, floor {floor:.4f}")
if not ran:
    print("SKIP: none of the datasets is present")
    sys.exit(SKIP)
t.done()
