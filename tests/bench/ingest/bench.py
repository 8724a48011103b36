#!/usr/bin/env python3
"""Ingestion benchmark driver (run through run.sh, which sets up the venv).

Corpus: the .html files under each --docs folder (Debian's PostgreSQL 15 and
Python 3.11 manuals), sorted by (set, path); --max-files N takes N of them
spread evenly over that list (file i*total//N), --full all of them. They are
copied to WORK/src/<set>/<path>, which every system then ingests.

Systems, run one after the other, each in its own process, all with
--threads threads (OMP_THREAD_LIMIT / OMP_NUM_THREADS / MKL / OpenBLAS,
torch.set_num_threads) and, when the machine has more cores than that,
pinned to the same --threads cores:
  ragd        `ragd --data D model import MODEL`, then the timed
              `ragd --data D --json ingest SRC` (fresh D): loader, chunker
              (200 tokens, 40 overlap), encoder, SQLite, FTS5, vectors.
              ragd has no thread option; OMP_THREAD_LIMIT caps its OpenMP
              threads at --threads. Passages in ragd's default precision
              (int8 weights where the CPU has VNNI, else fp32); --fp32
              passes ragd's --fp32 (fp32 weights, as the peers run).
  encode      tests/engine/nn_bench on exactly the texts ragd embedded for
              those chunks (title + chunk text, read back from D/ragd.db),
              one pass: pure encoding, same encoder options (--passage-int8
              unless --fp32). Pipeline
              overhead = ragd's ingest seconds / encode seconds - 1.
  txtai       BeautifulSoup (lxml, script/style dropped, get_text("\\n")),
              200-token windows with 40 overlap counted by the model's own
              tokenizer, Embeddings(path=MODEL, content=True,
              backend="faiss").index((id, text)).
  llamaindex  SimpleDirectoryReader with the same BeautifulSoup extraction,
              SentenceSplitter(chunk_size=200, chunk_overlap=40, the
              model's tokenizer), HuggingFaceEmbedding(MODEL, device="cpu"),
              in-memory VectorStoreIndex.from_documents.
Seconds: ragd, the ingest process's wall time (model load included); the
peers, from reading the files to the index built, model load included
(Python start and imports not). Files/s is the comparable figure: the
systems chunk differently, so chunks/s is shown but not compared. Peak RSS
comes from wait4() on each system's process; CPU seconds cover the same span
as the seconds (ragd: its process; peers: getrusage over the timed part).
"""
import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time

SYSTEMS = ["ragd", "encode", "txtai", "llamaindex"]
CHUNK_TOKENS, OVERLAP_TOKENS = 200, 40  # ragd's defaults (ingest/chunker.h)
RAGD_EMBED_BATCH = 256  # RG_DENSE_EMBED_BATCH (index/dense.h)
RAGD_INGEST_QUEUE = 16  # RG_INGEST_QUEUE (ingest/pipeline.h): documents per writer batch
FILES_TARGET, OVERHEAD_TARGET = 5.0, 0.10


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---- corpus ----

def list_docs(dirs):
    """(set name, absolute path, path relative to its folder) of every .html, sorted."""
    out = []
    for d in dirs:
        d = os.path.realpath(d)
        name = os.path.basename(os.path.dirname(d)) if os.path.basename(d) == "html" else os.path.basename(d)
        for top, subdirs, files in os.walk(d):
            subdirs.sort()
            for f in files:
                if f.endswith(".html"):
                    p = os.path.join(top, f)
                    out.append((name, p, os.path.relpath(p, d)))
    out.sort(key=lambda x: (x[0], x[2]))
    return out


def prepare_corpus(args):
    docs = list_docs(args.docs)
    if not docs:
        raise SystemExit("bench: no .html files under " + ", ".join(args.docs))
    n = len(docs) if args.full or args.max_files >= len(docs) else args.max_files
    pick = [docs[i * len(docs) // n] for i in range(n)]
    src = os.path.join(args.work, "src")
    listing = "".join(f"{s}/{r}\n" for s, _, r in pick)
    mark = os.path.join(args.work, "src.list")  # outside src: no system sees it
    if not (os.path.isdir(src) and os.path.exists(mark) and open(mark).read() == listing):
        shutil.rmtree(src, ignore_errors=True)
        for s, p, r in pick:
            dst = os.path.join(src, s, r)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(p, dst)
        with open(mark, "w") as f:
            f.write(listing)
    nbytes = sum(os.path.getsize(os.path.join(src, s, r)) for s, _, r in pick)
    per_set = {}
    for s, _, _ in pick:
        per_set[s] = per_set.get(s, 0) + 1
    return src, len(pick), nbytes, per_set, len(docs)


# ---- processes ----

class Pinned:
    """Environment and CPU set of every measured process."""

    def __init__(self, threads, pin):
        self.threads = threads
        allowed = sorted(os.sched_getaffinity(0))
        self.cpus = allowed[:threads] if pin and threads < len(allowed) else None
        self.n_allowed = len(allowed)
        t = str(threads)
        self.env = dict(os.environ, OMP_NUM_THREADS=t, OMP_THREAD_LIMIT=t, MKL_NUM_THREADS=t,
                        OPENBLAS_NUM_THREADS=t, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                        TOKENIZERS_PARALLELISM="false")

    def run(self, cmd, out_path, err_path):
        """Runs cmd to completion; returns (rc, wall s, cpu s, peak RSS MB) of that process."""
        cpus = self.cpus
        with open(out_path, "w") as out, open(err_path, "w") as err:
            t = time.perf_counter()
            p = subprocess.Popen(cmd, stdout=out, stderr=err, env=self.env,
                                 preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
            _, status, ru = os.wait4(p.pid, 0)
            wall = time.perf_counter() - t
            p.returncode = os.waitstatus_to_exitcode(status)
        return p.returncode, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0


def tail(path, n=2000):
    with open(path, errors="replace") as f:
        return f.read()[-n:]


def last_json(path):
    for line in reversed(open(path, errors="replace").read().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in " + path)


# ---- ragd ----

def run_ragd(args, pin, src):
    data = os.path.join(args.work, "ragd-data")
    shutil.rmtree(data, ignore_errors=True)
    logs = os.path.join(args.work, "logs")
    rc, _, _, _ = pin.run([args.ragd, "--data", data, "model", "import", args.model],
                          os.path.join(logs, "ragd-import.out"), os.path.join(logs, "ragd-import.err"))
    if rc:
        return {"error": "model import failed: " + tail(os.path.join(logs, "ragd-import.err"))}
    out, err = os.path.join(logs, "ragd.out"), os.path.join(logs, "ragd.err")
    fp32 = ["--fp32"] if args.fp32 else []
    rc, wall, cpu, rss = pin.run([args.ragd, "--data", data, "--json"] + fp32 + ["ingest", src],
                                 out, err)
    try:
        j = last_json(out)
    except ValueError:
        return {"error": f"ragd ingest exited {rc}: " + tail(err)}
    shutil.copyfile(os.path.join(args.work, "src.list"), os.path.join(args.work, "ragd-data.list"))
    r = {"files": j["files"], "chunks": j["chunks"], "seconds": wall, "cpu_s": cpu, "rss_mb": rss,
         "ragd_seconds": j["seconds"], "ragd_json": j, "rc": rc}
    if rc or j.get("failed"):
        r["warning"] = f"exit {rc}, {j.get('failed')} files failed: " + tail(err, 600)
    return r


def export_embed_texts(args):
    """The text ragd embedded for each chunk (rg_store_chunk_embed_text), one per line."""
    db = os.path.join(args.work, "ragd-data", "ragd.db")
    made = os.path.join(args.work, "ragd-data.list")
    if not os.path.exists(db) or not os.path.exists(made):
        raise FileNotFoundError(db + " (run the ragd step first)")
    if open(made).read() != open(os.path.join(args.work, "src.list")).read():
        raise FileNotFoundError(db + " holds another selection of files (run the ragd step first)")
    prompt = ""
    try:  # the passage prompt the encoder puts first (none for MiniLM)
        cfg = json.load(open(os.path.join(args.model, "config_sentence_transformers.json")))
        p = cfg.get("prompts") or {}
        prompt = p.get("passage", p.get("document", "")) or ""
    except (OSError, ValueError):
        pass
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = con.execute("SELECT d.title, c.text, c.document_id FROM chunks c "
                       "JOIN documents d ON d.id = c.document_id ORDER BY c.id").fetchall()
    con.close()
    path = os.path.join(args.work, "chunks.txt")
    per_doc = []  # chunks of each document, in ingestion order
    with open(path, "w", encoding="utf-8") as f:
        last_doc = None
        for title, text, doc in rows:
            # ragd: title "\n" text; nn_bench reads a text per line, so line
            # breaks become spaces (whitespace to BERT's tokenizer either way)
            t = prompt + (title + "\n" if title else "") + text
            f.write(t.replace("\r", " ").replace("\n", " ") + "\n")
            if doc != last_doc:
                per_doc.append(0)
            per_doc[-1] += 1
            last_doc = doc
    return path, len(rows), embed_calls(per_doc)


def embed_calls(per_doc):
    """rg_encoder_embed calls of ragd's writer (ingest/pipeline.c): documents gather
    until RAGD_INGEST_QUEUE of them or RAGD_EMBED_BATCH chunks, then go in calls of at
    most RAGD_EMBED_BATCH chunks (ignoring the early flushes before index saves)."""
    calls, docs, chunks = 0, 0, 0
    for n in per_doc:
        if docs == RAGD_INGEST_QUEUE:
            calls, docs, chunks = calls + -(-chunks // RAGD_EMBED_BATCH), 0, 0
        docs, chunks = docs + 1, chunks + n
        if chunks >= RAGD_EMBED_BATCH:
            calls, docs, chunks = calls + -(-chunks // RAGD_EMBED_BATCH), 0, 0
    return calls + -(-chunks // RAGD_EMBED_BATCH)


def run_encode(args, pin):
    try:
        path, n, calls = export_embed_texts(args)
    except FileNotFoundError as e:
        return {"error": str(e)}
    logs = os.path.join(args.work, "logs")
    out, err = os.path.join(logs, "encode.out"), os.path.join(logs, "encode.err")
    rc, wall, cpu, rss = pin.run([args.nn_bench, args.model, "--threads", str(args.threads),
                                  "--texts", path, "--reps", "1", "--query-reps", "1"]
                                 + ([] if args.fp32 else ["--passage-int8"]), out, err)
    if rc:
        return {"error": f"nn_bench exited {rc}: " + tail(err)}
    j = last_json(out)
    return {"chunks": j["texts"], "seconds": j["secs_median"], "cpu_s": j["cpu_secs_median"],
            "rss_mb": rss, "process_seconds": wall, "ragd_embed_calls": calls,
            "nn_bench_json": j,
            "batching": f"nn_bench: one rg_encoder_embed call over all {n} texts (sorted by "
                        f"length globally); ragd ingest: about {calls} calls of at most "
                        f"{RAGD_EMBED_BATCH} chunks of up to {RAGD_INGEST_QUEUE} documents each"}


# ---- peers (each runs in its own process: bench.py --peer NAME) ----

def html_text(path):
    """Shared by both peers: BeautifulSoup text of an HTML file."""
    from bs4 import BeautifulSoup
    with open(path, "rb") as f:
        soup = BeautifulSoup(f.read(), "lxml")
    for t in soup(["script", "style"]):
        t.decompose()
    return soup.get_text(separator="\n")


def html_files(src):
    out = []
    for top, subdirs, files in os.walk(src):
        subdirs.sort()
        out.extend(os.path.join(top, f) for f in sorted(files) if f.endswith(".html"))
    return out


def quiet_transformers():
    import logging
    logging.getLogger("transformers").setLevel(logging.ERROR)
    try:
        import transformers
        transformers.logging.set_verbosity_error()
    except Exception:
        pass


def cpu_now():
    import resource
    ru = resource.getrusage(resource.RUSAGE_SELF)  # all threads of this process
    return ru.ru_utime + ru.ru_stime


def peer_txtai(args):
    from transformers import AutoTokenizer
    from txtai import Embeddings
    quiet_transformers()
    t0, c0 = time.perf_counter(), cpu_now()  # imports excluded from both
    tok = AutoTokenizer.from_pretrained(args.model)
    step = CHUNK_TOKENS - OVERLAP_TOKENS
    files = html_files(args.src)
    rows = []
    for path in files:
        text = html_text(path)
        off = tok(text, add_special_tokens=False, return_offsets_mapping=True,
                  verbose=False)["offset_mapping"]
        rel = os.path.relpath(path, args.src)
        for i, s in enumerate(range(0, len(off), step)):
            e = min(s + CHUNK_TOKENS, len(off))
            rows.append((f"{rel}#{i}", text[off[s][0]:off[e - 1][1]]))
            if e == len(off):
                break
    t1 = time.perf_counter()
    emb = Embeddings(path=args.model, content=True, backend="faiss")
    emb.index(rows)
    t2 = time.perf_counter()
    assert emb.count() == len(rows), (emb.count(), len(rows))
    return {"files": len(files), "chunks": len(rows), "seconds": t2 - t0, "cpu_s": cpu_now() - c0,
            "prepare_s": t1 - t0, "index_s": t2 - t1}


def peer_llamaindex(args):
    from transformers import AutoTokenizer
    from llama_index.core import Document, SimpleDirectoryReader, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.readers.base import BaseReader
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    quiet_transformers()

    class SoupHTMLReader(BaseReader):
        def load_data(self, file, extra_info=None, **kwargs):
            return [Document(text=html_text(str(file)), metadata=extra_info or {})]

    t0, c0 = time.perf_counter(), cpu_now()  # imports excluded from both
    tok = AutoTokenizer.from_pretrained(args.model)
    docs = SimpleDirectoryReader(input_dir=args.src, recursive=True, required_exts=[".html"],
                                 file_extractor={".html": SoupHTMLReader()},
                                 raise_on_error=True).load_data()
    t1 = time.perf_counter()
    splitter = SentenceSplitter(chunk_size=CHUNK_TOKENS, chunk_overlap=OVERLAP_TOKENS,
                                tokenizer=lambda s: tok.encode(s, add_special_tokens=False,
                                                               verbose=False))
    embed = HuggingFaceEmbedding(model_name=args.model, device="cpu")
    index = VectorStoreIndex.from_documents(docs, embed_model=embed, transformations=[splitter])
    t2 = time.perf_counter()
    chunks = len(index.index_struct.nodes_dict)
    return {"files": len({d.metadata.get("file_path") for d in docs}), "chunks": chunks,
            "seconds": t2 - t0, "cpu_s": cpu_now() - c0, "prepare_s": t1 - t0, "index_s": t2 - t1,
            "embed_batch_size": embed.embed_batch_size}


def peer_main(args):
    import warnings
    import torch
    from bs4 import XMLParsedAsHTMLWarning
    warnings.filterwarnings("ignore", category=XMLParsedAsHTMLWarning)  # PostgreSQL's XHTML
    torch.set_num_threads(args.threads)
    fn = {"txtai": peer_txtai, "llamaindex": peer_llamaindex}[args.peer]
    r = fn(args)
    print(json.dumps(r), flush=True)
    return 0


def run_peer(args, pin, name, src):
    logs = os.path.join(args.work, "logs")
    out, err = os.path.join(logs, name + ".out"), os.path.join(logs, name + ".err")
    cmd = [sys.executable, os.path.abspath(__file__), "--peer", name, "--src", src,
           "--model", args.model, "--threads", str(args.threads)]
    rc, wall, cpu, rss = pin.run(cmd, out, err)
    if rc:
        return {"error": f"exited {rc}: " + tail(err)}
    r = last_json(out)
    r.update(rss_mb=rss, process_seconds=wall, process_cpu_s=cpu)
    return r


# ---- report ----

def fmt(v, spec):
    return format(v, spec) if isinstance(v, (int, float)) else "-"


def report(res, nfiles, nbytes, threads):
    mb = nbytes / 1e6
    print(f"\n{'system':11s} {'files':>6s} {'chunks':>7s} {'seconds':>8s} {'cpu s':>8s} "
          f"{'files/s':>8s} {'chunks/s':>9s} {'MB/s':>7s} {'peak RSS MB':>11s}")
    for name in SYSTEMS:
        r = res.get(name)
        if r is None:
            continue
        if "error" in r:
            print(f"{name:11s} FAILED: {r['error'].strip().splitlines()[-1] if r['error'].strip() else ''}")
            continue
        s = r["seconds"]
        files = r.get("files")
        if name != "encode":
            r["files_per_s"] = files / s
            r["mb_per_s"] = mb / s
        r["chunks_per_s"] = r["chunks"] / s
        label = "ragd-encode" if name == "encode" else name
        print(f"{label:11s} {fmt(files, '6d'):>6s} {r['chunks']:7d} {s:8.2f} {r['cpu_s']:8.2f} "
              f"{fmt(r.get('files_per_s'), '8.2f'):>8s} {r['chunks_per_s']:9.1f} "
              f"{fmt(r.get('mb_per_s'), '7.3f'):>7s} {r['rss_mb']:11.0f}")
    print(f"(seconds: ragd = wall of `ragd ingest` incl. model load; peers = read files .. index "
          f"built, incl. model load; ragd-encode = nn_bench's pass alone; {threads} threads each)")

    verdict = {}
    ragd = res.get("ragd") if "error" not in res.get("ragd", {"error": 1}) else None
    print()
    for peer in ("txtai", "llamaindex"):
        p = res.get(peer)
        if ragd and p and "error" not in p:
            ratio = ragd["files_per_s"] / p["files_per_s"]
            ok = ratio >= FILES_TARGET
            verdict[f"ragd_vs_{peer}"] = {"files_per_s_ratio": ratio, "target": FILES_TARGET, "pass": ok}
            print(f"ragd vs {peer:10s} files/s {ratio:6.2f}x  (target >= {FILES_TARGET:.0f}x) "
                  f"{'PASS' if ok else 'FAIL'}   [chunks: ragd {ragd['chunks']}, {peer} {p['chunks']}]")
    enc = res.get("encode")
    if ragd and enc and "error" not in enc:
        over = ragd["ragd_seconds"] / enc["seconds"] - 1
        ok = over <= OVERHEAD_TARGET
        verdict["pipeline_overhead"] = {"overhead": over, "target": OVERHEAD_TARGET, "pass": ok,
                                        "ragd_ingest_seconds": ragd["ragd_seconds"],
                                        "encode_seconds": enc["seconds"],
                                        "cpu_overhead_incl_model_load": ragd["cpu_s"] / enc["cpu_s"] - 1}
        print(f"pipeline overhead      {over * 100:6.1f}%  (target <= {OVERHEAD_TARGET * 100:.0f}%) "
              f"{'PASS' if ok else 'FAIL'}   [ragd ingest {ragd['ragd_seconds']:.2f} s (its JSON) / "
              f"encode {enc['seconds']:.2f} s; CPU-time ratio incl. model load "
              f"{verdict['pipeline_overhead']['cpu_overhead_incl_model_load'] * 100:+.1f}%]")
        print(f"  note: batching differs: {enc['batching']}; the overhead includes that difference")
        if enc["chunks"] != ragd["chunks"]:
            print(f"  note: {enc['chunks']} chunks encoded, ragd reported {ragd['chunks']}")
    return verdict


# ---- main ----

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--ragd")
    ap.add_argument("--nn-bench")
    ap.add_argument("--docs", action="append", default=[], help="a folder of .html files (repeatable)")
    ap.add_argument("--work", help="work folder (src/, ragd-data/, logs/)")
    ap.add_argument("--max-files", type=int, default=400, help="files taken from the corpus (default 400)")
    ap.add_argument("--full", action="store_true", help="every file of the corpus")
    ap.add_argument("--threads", type=int, default=2, help="threads for every system (default 2)")
    ap.add_argument("--only", default=",".join(SYSTEMS), help="comma list of " + ",".join(SYSTEMS))
    ap.add_argument("--no-pin", action="store_true",
                    help="do not pin the systems to the first --threads cores")
    ap.add_argument("--fp32", action="store_true",
                    help="ragd embeds passages with fp32 weights (default: int8 where the CPU has VNNI)")
    ap.add_argument("--json", default="", help="also write every figure here")
    ap.add_argument("--peer", help=argparse.SUPPRESS)  # internal: run one peer in this process
    ap.add_argument("--src", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        return peer_main(args)
    if not (args.ragd and args.nn_bench and args.docs and args.work):
        ap.error("--ragd, --nn-bench, --docs and --work are needed (run.sh passes them)")
    only = [s for s in args.only.split(",") if s]
    bad = [s for s in only if s not in SYSTEMS]
    if bad or args.threads < 1 or args.max_files < 1:
        ap.error(f"unknown system {bad}" if bad else "--threads and --max-files must be >= 1")
    os.makedirs(os.path.join(args.work, "logs"), exist_ok=True)

    src, nfiles, nbytes, per_set, total = prepare_corpus(args)
    pin = Pinned(args.threads, not args.no_pin)
    sets = ", ".join(f"{k} {v}" for k, v in sorted(per_set.items()))
    print(f"ingest bench: {nfiles} of {total} files ({sets}), {nbytes / 1e6:.2f} MB of HTML in {src}; "
          f"{args.threads} threads; ragd passages {'fp32' if args.fp32 else 'default precision'}"
          + (f", pinned to CPUs {pin.cpus}" if pin.cpus else f" ({pin.n_allowed} CPUs, not pinned)"),
          flush=True)
    if args.threads > pin.n_allowed:
        log(f"bench: warning: --threads {args.threads} > {pin.n_allowed} usable CPUs")

    res = {}
    for name in SYSTEMS:
        if name not in only:
            continue
        log(f"bench: {name} ...")
        t = time.perf_counter()
        try:
            if name == "ragd":
                res[name] = run_ragd(args, pin, src)
            elif name == "encode":
                res[name] = run_encode(args, pin)
            else:
                res[name] = run_peer(args, pin, name, src)
        except Exception as e:  # one system failing does not stop the others
            res[name] = {"error": f"{type(e).__name__}: {e}"}
        r = res[name]
        log(f"bench: {name}: " + (("FAILED " + r["error"][-300:]) if "error" in r else
                                  f"{r.get('files', '-')} files, {r['chunks']} chunks, "
                                  f"{r['seconds']:.2f} s") + f" ({time.perf_counter() - t:.0f} s)")
        if "warning" in r:
            log(f"bench: {name}: warning: {r['warning']}")

    verdict = report(res, nfiles, nbytes, args.threads)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"files": nfiles, "bytes": nbytes, "per_set": per_set, "corpus_files": total,
                       "threads": args.threads, "pinned_cpus": pin.cpus, "model": args.model,
                       "ragd_fp32": args.fp32,
                       "chunk_tokens": CHUNK_TOKENS, "overlap_tokens": OVERLAP_TOKENS,
                       "systems": res, "targets": verdict}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
