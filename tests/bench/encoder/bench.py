#!/usr/bin/env python3
"""Encoder benchmark driver (run through run.sh, which sets up the venv).

Engines, all given the same texts and the same thread count in one run:
  ragd fp32 / int8   the C encoder, through the nn_bench tool (JSON output)
  sentence-transformers (PyTorch CPU), encode() with its own batching
  ORT fp32 / int8    the model exported to ONNX, optimised with ONNX
                     Runtime's BERT fusions, int8 by quantize_dynamic;
                     batches sorted by length and padded per batch,
                     tokenisation, mean pooling and normalisation included

Workloads: 256-token chunks, the scifact length mix (title + text, truncated
at 256 as every engine does), and single-query latency (16 tokens with
specials, one text per call, one thread). Throughput is the median of
--reps passes; latency is p50 (and min) over --query-reps calls.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

import numpy as np

QUERY = "how do transformers use attention to model long range dependencies in text data"
MAX_LEN = 256
BATCH = 32


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---- workloads ----

def load_scifact(path, n):
    if not path or not os.path.exists(path):
        return None
    docs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            text = (d.get("title", "") + " " + d.get("text", "")).strip()
            docs.append(" ".join(text.split()))  # one line per text for nn_bench
            if len(docs) >= n:
                break
    return docs


def make_chunks(tok, words, n):
    """n texts of exactly MAX_LEN tokens (with specials) after truncation."""
    rnd = random.Random(7)
    out = []
    while len(out) < n:
        text = " ".join(rnd.choice(words) for _ in range(400))
        ids = tok(text, truncation=True, max_length=MAX_LEN)["input_ids"]
        if len(ids) == MAX_LEN:
            out.append(text)
    return out


def count_tokens(tok, texts):
    return sum(len(x) for x in tok(texts, truncation=True, max_length=MAX_LEN)["input_ids"])


# ---- engines ----

def run_ragd(args, extra, texts_file=None, threads=1):
    cmd = [args.nn_bench, args.model, "--threads", str(threads), "--query-reps",
           str(args.query_reps if texts_file is None else 5), "--reps", str(args.reps)] + extra
    if texts_file:
        cmd += ["--texts", texts_file]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def time_passes(fn, texts, reps):
    fn(texts[: min(len(texts), BATCH)])  # warm-up
    secs = []
    for _ in range(reps):
        t = time.perf_counter()
        fn(texts)
        secs.append(time.perf_counter() - t)
    return statistics.median(secs)


def time_query(fn, reps):
    for _ in range(20):
        fn([QUERY])
    lat = []
    for _ in range(reps):
        t = time.perf_counter()
        fn([QUERY])
        lat.append((time.perf_counter() - t) * 1e3)
    lat.sort()
    return lat[len(lat) // 2], lat[0]


class Ort:
    def __init__(self, path, tok, threads):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.sess.get_inputs()}
        self.tok = tok

    def encode(self, texts):
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        res = [None] * len(texts)
        for s in range(0, len(order), BATCH):
            idx = order[s:s + BATCH]
            enc = self.tok([texts[i] for i in idx], truncation=True, max_length=MAX_LEN,
                           padding=True, return_tensors="np")
            feed = {k: v.astype(np.int64) for k, v in enc.items() if k in self.inputs}
            h = self.sess.run(None, feed)[0]
            m = enc["attention_mask"][..., None].astype(np.float32)
            e = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
            e /= np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
            for j, i in enumerate(idx):
                res[i] = e[j]
        return np.stack(res)


def export_onnx(args, tok):
    """fp32 (BERT-fused by ORT's optimizer when it can) and dynamic int8 models."""
    os.makedirs(args.work, exist_ok=True)
    raw = os.path.join(args.work, "model.onnx")
    fp32 = os.path.join(args.work, "model-opt.onnx")
    int8 = os.path.join(args.work, "model-int8.onnx")
    if not os.path.exists(raw):
        import torch
        from transformers import AutoModel
        log("bench: exporting the model to ONNX")
        m = AutoModel.from_pretrained(args.model).eval()
        d = tok(["hello world", "a longer second text here"], padding=True, return_tensors="pt")
        names = ["input_ids", "attention_mask", "token_type_ids"]
        dyn = {n: {0: "batch", 1: "seq"} for n in names}
        dyn["last_hidden_state"] = {0: "batch", 1: "seq"}
        kw = dict(input_names=names, output_names=["last_hidden_state"], dynamic_axes=dyn,
                  opset_version=17)
        with torch.no_grad():
            try:
                torch.onnx.export(m, tuple(d[n] for n in names), raw, dynamo=False, **kw)
            except TypeError:  # torch without the dynamo switch
                torch.onnx.export(m, tuple(d[n] for n in names), raw, **kw)
    if not os.path.exists(fp32):
        try:
            from onnxruntime.transformers import optimizer
            cfg = json.load(open(os.path.join(args.model, "config.json")))
            opt = optimizer.optimize_model(raw, model_type="bert", num_heads=cfg["num_attention_heads"],
                                           hidden_size=cfg["hidden_size"])
            opt.save_model_to_file(fp32)
        except Exception as e:  # the plain export is still a fair fp32 peer
            log(f"bench: ORT transformer optimizer failed ({e}); using the plain export")
            fp32 = raw
    if not os.path.exists(int8):
        from onnxruntime.quantization import QuantType, quantize_dynamic
        quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8)
    return fp32, int8


def cosine_min(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(1).min())


# ---- main ----

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--nn-bench", required=True)
    ap.add_argument("--scifact", default="")
    ap.add_argument("--work", default="bench-encoder")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--docs", type=int, default=512, help="scifact documents (default 512)")
    ap.add_argument("--chunks", type=int, default=128, help="256-token chunks (default 128)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--query-reps", type=int, default=200)
    ap.add_argument("--engines", default="ragd,ragd-int8,st,ort,ort-int8")
    ap.add_argument("--json", default="", help="also write the results here")
    args = ap.parse_args()
    engines = args.engines.split(",")

    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.model)
    torch.set_num_threads(args.threads)
    assert len(tok(QUERY)["input_ids"]) == 16, "the query must be 16 tokens"

    sci = load_scifact(args.scifact, args.docs)
    if sci is None:
        log(f"bench: {args.scifact or 'scifact corpus'} not found: skipping the scifact length mix")
    words = " ".join(sci[:200]).split() if sci else (
        "retrieval index vector search the of model encoder document answer latency "
        "throughput a is protein cell gene expression patients study results").split()
    workloads = {"256-token chunks": make_chunks(tok, words, args.chunks)}
    if sci:
        workloads["scifact mix"] = sci
    os.makedirs(args.work, exist_ok=True)

    results = {}  # (workload, engine) -> dict
    query = {}
    ragd_variants = {"ragd": [], "ragd-int8": ["--int8"]}
    st = SentenceTransformer(args.model, device="cpu") if "st" in engines else None
    ort_paths = export_onnx(args, tok) if any(e.startswith("ort") for e in engines) else None
    orts = {}
    if ort_paths:
        if "ort" in engines:
            orts["ort"] = Ort(ort_paths[0], tok, args.threads)
        if "ort-int8" in engines:
            orts["ort-int8"] = Ort(ort_paths[1], tok, args.threads)

    for wname, texts in workloads.items():
        ntok = count_tokens(tok, texts)
        path = os.path.join(args.work, wname.replace(" ", "-") + ".txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(texts) + "\n")
        log(f"bench: {wname}: {len(texts)} texts, {ntok} tokens, {args.threads} threads")
        ref = None
        for e in engines:
            if e in ragd_variants:
                r = run_ragd(args, ragd_variants[e], path, args.threads)
                secs = r["secs_median"]
                results[(wname, "rss " + e)] = r["rss_end_mb"]
            elif e == "st":
                torch.set_num_threads(args.threads)
                fn = lambda t: st.encode(t, batch_size=BATCH)
                secs = time_passes(fn, texts, args.reps)
                ref = fn(texts)
            else:
                secs = time_passes(orts[e].encode, texts, args.reps)
                if ref is not None:
                    log(f"bench: {e} vs sentence-transformers: min cosine {cosine_min(orts[e].encode(texts), ref):.5f}")
            results[(wname, e)] = {"texts_per_s": len(texts) / secs, "tokens_per_s": ntok / secs}
            log(f"  {e:10s} {len(texts) / secs:9.1f} texts/s {ntok / secs:10.0f} tokens/s")

    # single-query latency, one thread for everyone
    for e in engines:
        if e in ragd_variants:
            r = run_ragd(args, ragd_variants[e], None, 1)
            query[e] = (r["query_p50_ms"], r["query_min_ms"])
            query["rss " + e] = r["rss_load_mb"]
            if e == "ragd":  # rg_encoder_embed_query: what search uses (int8 weights with VNNI)
                query["ragd-query-path"] = (r["query_api_p50_ms"], r["query_api_min_ms"])
        elif e == "st":
            torch.set_num_threads(1)
            query[e] = time_query(lambda t: st.encode(t), args.query_reps)
        else:
            o = Ort(ort_paths[0 if e == "ort" else 1], tok, 1)
            query[e] = time_query(o.encode, args.query_reps)
        log(f"  query {e:10s} p50 {query[e][0]:.3f} ms")

    print()
    print(f"Encoder benchmark: {os.path.basename(os.path.normpath(args.model))}, {args.threads} threads "
          f"(query: 1 thread), ratios against ORT fp32")
    print(f"{'workload':18s} {'engine':10s} {'texts/s':>9s} {'tokens/s':>10s} {'vs ORT fp32':>12s} {'vs ORT int8':>12s}")
    for wname in workloads:
        base = results.get((wname, "ort"), {}).get("tokens_per_s")
        base8 = results.get((wname, "ort-int8"), {}).get("tokens_per_s")
        for e in engines:
            r = results[(wname, e)]
            ratio = f"{r['tokens_per_s'] / base:.2f}x" if base else "-"
            ratio8 = f"{r['tokens_per_s'] / base8:.2f}x" if base8 else "-"
            print(f"{wname:18s} {e:10s} {r['texts_per_s']:9.1f} {r['tokens_per_s']:10.0f} {ratio:>12s} {ratio8:>12s}")
    print()
    print(f"{'single query (16 tokens, 1 thread)':36s} {'p50 ms':>8s} {'min ms':>8s}")
    for e in engines + (["ragd-query-path"] if "ragd-query-path" in query else []):
        print(f"  {e:34s} {query[e][0]:8.3f} {query[e][1]:8.3f}")
    for e in ragd_variants:
        if "rss " + e in query:
            print(f"RSS after loading ({e}): {query['rss ' + e]:.1f} MB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads,
                       "throughput": {f"{w}|{e}": v for (w, e), v in results.items()},
                       "query": query}, f, indent=1)


if __name__ == "__main__":
    main()
