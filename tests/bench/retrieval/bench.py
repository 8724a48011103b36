#!/usr/bin/env python3
"""Retrieval benchmark driver (run through run.sh, which sets up the venv).

Builds a corpus of about --chunks passages of real text: the English
development datasets (scifact, vaswani, cranfield, cisi) split into passages
of at most --words words on sentence boundaries, then repeated with
variation (copy c rotates each passage's sentences by c and swaps its second
sentence for a short one of another passage, so no two passages are the
same) until the count is reached. Each passage is one small text file;
ragd ingests the folder with `ragd ingest` (its real pipeline: loader,
chunker, encoder, SQLite, FAISS) and each file becomes one chunk.

Queries: every query text of those datasets (about 700, more than ragd's
query-embedding cache, so no answer comes from the cache).

Then, in the same run and on the same passages and queries:
  ragd      tests/bench/retrieval/retrieval_bench (C): per-stage p50/p99
            (embed query, ANN, BM25, fuse, fetch text), end-to-end latency,
            queries/s with 1 and 2 threads, resident memory;
  txtai     Embeddings(content=True, hybrid=True, faiss HNSW32 efSearch 64),
            query embedding by sentence-transformers with the same model;
  LlamaIndex VectorStoreIndex on a FaissVectorStore (HNSW32, efSearch 64),
            HuggingFaceEmbedding with the same model; hybrid through
            QueryFusionRetriever over that and BM25Retriever (bm25s).
The peers index the passage vectors ragd stored when it ingested the
corpus (read from its vector file: same model, same text), so the corpus is
embedded once for all engines; their query embeddings are computed at
query time by sentence-transformers, as a user's would be. Their indexes
are built with every core (FAISS's OpenMP), their queries run on one
thread like ragd's latency pass. LlamaIndex takes the nodes in batches, so
a million of them never hold their vectors as Python lists at once.
Every engine's latency includes fetching the k texts.

Printed: a table per mode and the ratios peer p50 / ragd p50. --json also
writes everything measured.
"""
import argparse
import gc
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import threading
import time

import numpy as np

DATASETS = ["scifact", "vaswani", "cranfield", "cisi"]
SENT_SPLIT = re.compile(r"(?<=[.!?])\s+")
LLAMA_BATCH = 10000  # nodes per insert_nodes call
CORPUS_VERSION = "v2"  # bumped when build_corpus writes other text
VARY_WORDS = 40  # longest sentence vary() swaps in


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return -1.0


# ---- corpus ----

def passages_of(text, words):
    """Sentence-aligned passages of at most `words` words (a longer sentence alone)."""
    out, cur, n = [], [], 0
    for s in SENT_SPLIT.split(" ".join(text.split())):
        w = len(s.split())
        if cur and n + w > words:
            out.append(cur)
            cur, n = [], 0
        cur.append(s)
        n += w
    if cur:
        out.append(cur)
    return out


def dataset_records(datasets_dir, filename):
    """The JSON records of `filename` in each of DATASETS that has it."""
    for name in DATASETS:
        path = os.path.join(datasets_dir, name, filename)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    yield json.loads(line)


def vary(base, i, sents, copy):
    """Copy `copy` of passage i: its sentences rotated by copy, the second
    one swapped for the first sentence of another passage (chosen by i and
    copy; one of at most VARY_WORDS words, so the passage keeps its size),
    or that sentence added to a one-sentence passage. Every copy of every
    passage differs, and all of it is real text."""
    r = copy % len(sents)
    sents = sents[r:] + sents[:r]
    j = (i * 7919 + copy * 104729) % len(base)
    while len(base[j][0].split()) > VARY_WORDS:
        j = (j + 1) % len(base)
    extra = base[j][0]
    return sents[:1] + [extra] + sents[2:] if len(sents) >= 2 else sents + [extra]


def build_corpus(datasets_dir, target, words, work):
    """Writes work/docs/NNNN/NNNNNNN.txt and work/passages.txt (one per line)."""
    base = []
    for d in dataset_records(datasets_dir, "corpus.jsonl"):
        text = (d.get("title", "") + ". " + d.get("text", "")).strip(". ")
        if text:
            base.extend(passages_of(text, words))
    if not base:
        raise SystemExit("bench: no dataset corpora under " + datasets_dir)
    done_mark = os.path.join(work, "corpus.done")
    stamp = f"{target} {words} {CORPUS_VERSION}"
    if os.path.exists(done_mark) and open(done_mark).read().strip() == stamp:
        return sum(1 for _ in open(os.path.join(work, "passages.txt"), encoding="utf-8"))
    log(f"bench: writing {target} passages from {len(base)} distinct ones")
    docs = os.path.join(work, "docs")
    # what was built from an earlier corpus goes with it (ragd's store is
    # kept: its next ingest replaces the files that changed)
    for old in ("passages.f32", "passages.f32.from-ragd", "ragd.done"):
        if os.path.exists(os.path.join(work, old)):
            os.remove(os.path.join(work, old))
    subprocess.run(["rm", "-rf", docs], check=True)
    n = 0
    with open(os.path.join(work, "passages.txt"), "w", encoding="utf-8") as pf:
        copy = 0
        while n < target:
            for i, sents in enumerate(base):
                if n >= target:
                    break
                if copy:
                    sents = vary(base, i, sents, copy)
                text = " ".join(sents)
                d = os.path.join(docs, f"{n // 1000:04d}")
                if n % 1000 == 0:
                    os.makedirs(d, exist_ok=True)
                with open(os.path.join(d, f"{n:07d}.txt"), "w", encoding="utf-8") as f:
                    f.write(text + "\n")
                pf.write(text + "\n")
                n += 1
            copy += 1
    with open(done_mark, "w") as f:
        f.write(stamp + "\n")
    return n


def load_queries(datasets_dir):
    seen, out = set(), []
    for d in dataset_records(datasets_dir, "queries.jsonl"):
        q = " ".join(d["text"].split())
        if q and q not in seen:
            seen.add(q)
            out.append(q)
    return out


# ---- ragd ----

def ragd_index(args, n_passages):
    data = os.path.join(args.work, "ragd-data")
    mark = os.path.join(args.work, "ragd.done")
    if os.path.exists(mark) and open(mark).read().strip() == str(n_passages):
        return data, json.load(open(mark + ".json"))
    # an interrupted ingest resumes: files already in the store are skipped
    log(f"bench: ragd ingest of {n_passages} files (embedding every chunk)")
    t = time.perf_counter()
    r = subprocess.run([args.ragd, "--data", data, "--json", "ingest", "--model", args.model,
                        os.path.join(args.work, "docs")], capture_output=True, text=True)
    took = time.perf_counter() - t
    if r.returncode:
        raise SystemExit("bench: ragd ingest failed:\n" + r.stderr[-2000:])
    info = {"ingest_s": took}
    with open(mark + ".json", "w") as f:
        json.dump(info, f)
    with open(mark, "w") as f:
        f.write(f"{n_passages}\n")
    return data, info


def ragd_bench(args, data, queries_path, mode):
    cmd = [args.retrieval_bench, "--data", data, "--model", args.model, "--queries", queries_path,
           "--mode", mode, "-k", str(args.k), "--threads", args.threads,
           "--qps-seconds", str(args.qps_seconds)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit("bench: retrieval_bench failed:\n" + r.stderr[-2000:])
    return json.loads(r.stdout)


def ragd_vectors(data, n):
    """The passage vectors ragd stored when it ingested the corpus, in passage
    order: read from its vector file (index/vectors.c: a 512-byte header,
    then vectors_faiss.c's body: the id lists, vectors still pending, the
    FAISS index) and mapped to passages through the store's chunks (each
    passage file is one document; its first chunk's vector is taken)."""
    import sqlite3
    import struct

    import faiss
    db = sqlite3.connect(os.path.join(data, "ragd.db"))
    coll = db.execute("SELECT id FROM collections WHERE name = 'default'").fetchone()
    if not coll:
        raise SystemExit("bench: ragd's store has no 'default' collection")
    passage_of = {}
    for cid, uri in db.execute("SELECT c.id, d.source_uri FROM chunks c JOIN documents d "
                               "ON d.id = c.document_id WHERE c.ordinal = 0 "
                               "AND d.collection_id = ?", coll):
        passage_of[cid] = int(os.path.splitext(os.path.basename(uri))[0])
    db.close()
    with open(os.path.join(data, "vectors", f"{coll[0]}.rgv"), "rb") as f:
        blob = f.read()
    if blob[:8] != b"RGVECIX1" or struct.unpack_from("<I", blob, 12)[0] != 1:
        raise SystemExit("bench: ragd's vector file is not a FAISS one")
    dim = struct.unpack_from("<I", blob, 20)[0]
    at = 512
    n_indexed, n_tomb, n_pend = struct.unpack_from("<3Q", blob, at)
    at += 24 + 8 * n_indexed
    tomb = set(np.frombuffer(blob, dtype=np.int64, count=n_tomb, offset=at).tolist())
    at += 8 * n_tomb
    pend_ids = np.frombuffer(blob, dtype=np.int64, count=n_pend, offset=at)
    at += 8 * n_pend
    pend_x = np.frombuffer(blob, dtype=np.float32, count=n_pend * dim, offset=at).reshape(-1, dim)
    at += 4 * n_pend * dim
    ix = faiss.deserialize_index(np.frombuffer(blob, dtype=np.uint8, offset=at))
    del blob
    ids = faiss.vector_to_array(faiss.downcast_index(ix).id_map)
    inner = faiss.downcast_index(faiss.downcast_index(ix).index)
    x = inner.reconstruct_n(0, inner.ntotal)
    out = np.zeros((n, dim), dtype=np.float32)
    seen = np.zeros(n, dtype=bool)
    for cid, vec in zip(np.concatenate([ids, pend_ids]), np.concatenate([x, pend_x])):
        p = passage_of.get(int(cid))
        if p is not None and int(cid) not in tomb and p < n:
            out[p] = vec
            seen[p] = True
    if not seen.all():
        raise SystemExit(f"bench: ragd's vector file lacks {int((~seen).sum())} passages")
    return out


def passage_vectors(args, data, n):
    """The peers index ragd's own passage vectors (same model, same text), so
    the corpus is embedded once for all engines; cached as passages.f32."""
    path = os.path.join(args.work, "passages.f32")
    mark = path + ".from-ragd"
    if not (os.path.exists(mark) and os.path.exists(path)):
        log(f"bench: reading ragd's {n} passage vectors for the peers")
        ragd_vectors(data, n).tofile(path)
        open(mark, "w").close()
    return np.fromfile(path, dtype=np.float32).reshape(n, -1)


# ---- peers ----

def timed_queries(fn, queries, warmup=20):
    for q in queries[-warmup:]:
        fn(q)
    lat = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        lat.append((time.perf_counter() - t) * 1e3)
    return lat


def qps(fn, queries, threads, seconds):
    """Queries/s with `threads` Python threads calling fn (the GIL applies, as for a user)."""
    stop = time.perf_counter() + seconds
    counts = [0] * threads

    def run(i):
        j = i * len(queries) // threads
        while time.perf_counter() < stop:
            fn(queries[j % len(queries)])
            j += 1
            counts[i] += 1

    t0 = time.perf_counter()
    th = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


def summary(lat):
    s = sorted(lat)
    return {"p50": s[len(s) // 2], "p99": s[int((len(s) - 1) * 0.99)], "mean": statistics.fmean(s)}


def hnsw_ef(index, ef):
    import faiss
    ix = faiss.downcast_index(index)
    while not hasattr(ix, "hnsw") and hasattr(ix, "index"):
        ix = faiss.downcast_index(ix.index)
    ix.hnsw.efSearch = ef


class Lookup:
    """Passage text -> precomputed vector; anything else -> sentence-transformers."""

    def __init__(self, texts, vecs, st):
        self.index = {t: i for i, t in enumerate(texts)}
        self.vecs, self.st = vecs, st

    def __call__(self, batch):
        out = np.empty((len(batch), self.vecs.shape[1]), dtype=np.float32)
        for i, t in enumerate(batch):
            j = self.index.get(t)
            out[i] = self.vecs[j] if j is not None else self.st.encode(t, normalize_embeddings=True)
        return out


def txtai_engine(args, texts, vecs, st):
    from txtai import Embeddings
    before = rss_mb()
    lookup = Lookup(texts, vecs, st)
    emb = Embeddings(method="external", transform=lambda batch: lookup(batch), content=True,
                     hybrid=True, backend="faiss",
                     faiss={"components": "IDMap,HNSW32"})
    t = time.perf_counter()
    emb.index((str(i), text, None) for i, text in enumerate(texts))
    build = time.perf_counter() - t
    hnsw_ef(emb.ann.backend, 64)  # txtai leaves FAISS's default (16); match ragd and LlamaIndex
    info = {"build_s": build, "rss_delta_mb": rss_mb() - before}

    def search(mode):
        if mode == "dense":
            return lambda q: emb.search(q, args.k, weights=1.0)
        if mode == "lexical":
            return lambda q: emb.search(q, args.k, weights=0.0)
        return lambda q: emb.search(q, args.k)
    return search, info, emb


def llama_engine(args, texts, vecs, model):
    import faiss
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.llms.mock import MockLLM
    from llama_index.core.retrievers import QueryFusionRetriever
    from llama_index.core.schema import TextNode
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.retrievers.bm25 import BM25Retriever
    from llama_index.vector_stores.faiss import FaissVectorStore
    before = rss_mb()
    embed = HuggingFaceEmbedding(model_name=model, normalize=True)
    ix = faiss.IndexHNSWFlat(vecs.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    ix.hnsw.efSearch = 64
    store = FaissVectorStore(faiss_index=ix)
    t = time.perf_counter()
    index = VectorStoreIndex([], storage_context=StorageContext.from_defaults(vector_store=store),
                             embed_model=embed)
    for at in range(0, len(texts), LLAMA_BATCH):
        index.insert_nodes([TextNode(text=texts[i], id_=str(i), embedding=vecs[i].tolist())
                            for i in range(at, min(at + LLAMA_BATCH, len(texts)))])
    dense = index.as_retriever(similarity_top_k=args.k)
    bm25 = BM25Retriever.from_defaults(docstore=index.docstore, similarity_top_k=args.k)
    hybrid = QueryFusionRetriever([dense, bm25], similarity_top_k=args.k, num_queries=1,
                                  mode="reciprocal_rerank", use_async=False,
                                  llm=MockLLM())  # num_queries=1: the LLM is never called
    build = time.perf_counter() - t
    info = {"build_s": build, "rss_delta_mb": rss_mb() - before}

    def search(mode):
        r = {"dense": dense, "lexical": bm25, "hybrid": hybrid}[mode]
        return lambda q: [n.node.get_content() for n in r.retrieve(q)]
    return search, info, index


# ---- main ----

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ragd", required=True)
    ap.add_argument("--retrieval-bench", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--datasets", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--chunks", type=int, default=100000)
    ap.add_argument("--words", type=int, default=100, help="most words per passage (default 100)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--modes", default="hybrid,dense,lexical")
    ap.add_argument("--threads", default="1,2", help="thread counts for queries/s")
    ap.add_argument("--qps-seconds", type=float, default=10)
    ap.add_argument("--peers", default="txtai,llamaindex", help="'' for ragd only")
    ap.add_argument("--json", default="")
    ap.add_argument("--prepare-only", action="store_true",
                    help="only build the corpus, queries.txt, ragd's index and the passage vectors "
                         "(reused when present), print the work folder and stop (tests/bench/http)")
    args = ap.parse_args()
    if not os.path.isdir(args.datasets):
        log(f"bench: SKIP: {args.datasets} not found (the development datasets are not part of ragd)")
        return 0
    args.work = os.path.join(args.work, f"c{args.chunks}-w{args.words}")
    os.makedirs(args.work, exist_ok=True)
    modes = [m for m in args.modes.split(",") if m]
    threads = [int(t) for t in args.threads.split(",")]

    n = build_corpus(args.datasets, args.chunks, args.words, args.work)
    queries = load_queries(args.datasets)
    qpath = os.path.join(args.work, "queries.txt")
    with open(qpath, "w", encoding="utf-8") as f:
        f.write("\n".join(queries) + "\n")
    log(f"bench: {n} passages, {len(queries)} queries, k={args.k}")

    data, ragd_info = ragd_index(args, n)
    if args.prepare_only:
        passage_vectors(args, data, n)
        print(args.work)
        return 0
    results = {"passages": n, "queries": len(queries), "k": args.k, "ragd_ingest": ragd_info,
               "ragd": {}, "peers": {}}
    for mode in modes:
        log(f"bench: ragd {mode}")
        results["ragd"][mode] = ragd_bench(args, data, qpath, mode)
    log(f"bench: ragd has {results['ragd'][modes[0]]['chunks']} chunks")

    peers = [p for p in args.peers.split(",") if p]
    if peers:
        import faiss
        import torch
        from sentence_transformers import SentenceTransformer
        torch.set_num_threads(1)  # one query at a time, as ragd's latency pass
        texts = [line.rstrip("\n") for line in open(os.path.join(args.work, "passages.txt"),
                                                     encoding="utf-8")]
        vecs = passage_vectors(args, data, n)
        st = SentenceTransformer(args.model, device="cpu")
    for peer in peers:
        log(f"bench: {peer}: indexing {n} passages (precomputed vectors)")
        faiss.omp_set_num_threads(os.cpu_count() or 1)  # the index build on every core
        if peer == "txtai":
            search, info, keep = txtai_engine(args, texts, vecs, st)
        elif peer == "llamaindex":
            search, info, keep = llama_engine(args, texts, vecs, args.model)
        else:
            raise SystemExit(f"bench: unknown peer {peer}")
        faiss.omp_set_num_threads(1)  # queries one thread each, as ragd's
        res = {"index": info}
        for mode in modes:
            fn = search(mode)
            lat = timed_queries(fn, queries)
            res[mode] = {"total": summary(lat),
                         "qps": {str(t): qps(fn, queries, t, args.qps_seconds) for t in threads}}
            log(f"bench: {peer} {mode}: p50 {res[mode]['total']['p50']:.2f} ms")
        res["rss_mb"] = rss_mb()
        results["peers"][peer] = res
        del keep, search
        gc.collect()

    print(f"\nretrieval bench: {n} passages, {len(queries)} queries, k={args.k}; "
          f"ragd ingest {ragd_info['ingest_s']:.0f} s")
    for mode in modes:
        r = results["ragd"][mode]
        s = r["stages_ms"]
        print(f"\n[{mode}] ragd p50 / p99 ms: " +
              ", ".join(f"{k} {v['p50']:.2f}/{v['p99']:.2f}" for k, v in s.items()) +
              f"; qps " + ", ".join(f"{t} thr {v:.0f}" for t, v in r["qps"].items()) +
              f"; RSS {r['rss_open_mb']:.0f} MB; results short of k: {r['queries_under_k']}")
        for peer, pr in results["peers"].items():
            t = pr[mode]["total"]
            print(f"[{mode}] {peer:10s} p50 {t['p50']:.2f} ms p99 {t['p99']:.2f} ms; qps " +
                  ", ".join(f"{k} thr {v:.0f}" for k, v in pr[mode]["qps"].items()) +
                  f"; ratio p50 {peer}/ragd = {t['p50'] / s['total']['p50']:.1f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
