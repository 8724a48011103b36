"""Resumable ingestion: `ragd ingest` of 1,000 documents is killed with
SIGKILL at random moments (50 times; 8 on 60 documents in the sanitizer
pass, which runs several times slower), then run to
the end. The store must then hold exactly what one uninterrupted run stores:
the same documents with the same chunks, no orphan chunk or index row, and a
vector file holding one vector per chunk, in step with the store.

Seeded (RAGD_KILL_SEED, default 20261128) so a failure can be replayed."""
import hashlib
import glob
import os
import random
import signal
import sqlite3
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checks, model_or_skip, ragd_path, run, run_json, sanitized, tempdir  # noqa

t = Checks("ingest_kill")
SEED = int(os.environ.get("RAGD_KILL_SEED", "20261128"))
KILLS = 8 if sanitized() else 50
N_DOCS = 60 if sanitized() else 1000
rng = random.Random(SEED)
model = model_or_skip()

WORDS = ("river mountain ledger invoice harbour lantern copper meadow signal archive "
         "violet compass glacier orchard beacon granite falcon quarry tundra velvet "
         "ember saffron pylon mosaic cobalt thistle ferry summit canyon prairie").split()
HAN = "資料庫索引查詢向量檢索文件段落標題模型編碼器語言問題答案來源"


def doc_text(i):
    r = random.Random(SEED * 7919 + i)
    paras = []
    for _ in range(r.randint(1, 3)):
        if r.random() < 0.15:
            paras.append("".join(r.choice(HAN) for _ in range(r.randint(10, 60))) + "。")
        else:
            paras.append(" ".join(r.choice(WORDS) for _ in range(r.randint(8, 60))) + ".")
    return f"# Document {i}\n\n" + "\n\n".join(paras) + "\n"


src = tempdir("ragd-kill-src-")
for i in range(N_DOCS):
    sub = os.path.join(src, f"d{i % 10}")
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, f"doc{i:04d}.md"), "w", encoding="utf-8") as f:
        f.write(doc_text(i))


def new_data():
    d = tempdir()
    p = run(["model", "import", model], data=d)
    t.check(p.returncode == 0, "model import", p.stderr)
    return d


def snapshot(data):
    """What the store holds, as comparable values, plus consistency checks."""
    db = sqlite3.connect(os.path.join(data, "ragd.db"))
    docs = {}
    for src_uri, h, text in db.execute("SELECT source_uri, content_hash, text FROM documents"):
        docs[src_uri] = (h, hashlib.sha256(text.encode()).hexdigest())
    chunks = sorted(
        (s, o, bs, be, hashlib.sha256(tx.encode()).hexdigest())
        for s, o, bs, be, tx in db.execute(
            "SELECT d.source_uri, c.ordinal, c.byte_start, c.byte_end, c.text "
            "FROM chunks c JOIN documents d ON d.id = c.document_id"))
    orphans = db.execute("SELECT count(*) FROM chunks WHERE document_id NOT IN "
                         "(SELECT id FROM documents)").fetchone()[0]
    n_chunks = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
    # chunks_fts needs ragd's tokenizer; its docsize table has one row per indexed chunk
    fts = db.execute("SELECT count(*) FROM chunks_fts_docsize").fetchone()[0]
    gaps = db.execute("SELECT count(*) FROM (SELECT document_id, count(*) n, max(ordinal) m "
                      "FROM chunks GROUP BY document_id) WHERE m != n - 1").fetchone()[0]
    seq = db.execute("SELECT value FROM meta WHERE key = 'change_seq'").fetchone()[0]
    bad_manifest = db.execute("SELECT count(*) FROM manifest WHERE status = 'error'").fetchone()[0]
    db.close()
    files = glob.glob(os.path.join(data, "vectors", "*.rgv"))
    vcount = vseq = None
    if len(files) == 1:
        with open(files[0], "rb") as f:
            h = f.read(48)
        vcount, vseq = struct.unpack_from("<Q", h, 32)[0], struct.unpack_from("<Q", h, 24)[0]
    return {"docs": docs, "chunks": chunks, "orphans": orphans, "n_chunks": n_chunks, "fts": fts,
            "gaps": gaps, "seq": seq, "vcount": vcount, "vseq": vseq, "errors": bad_manifest}


# The reference: one run that is never interrupted.
ref_data = new_data()
t0 = time.time()
# Three loader threads here (one by default on two cores): the store must not
# depend on how many threads prepared the files or in what order they finished.
p, s = run_json(["ingest", "--loaders", "3", src], data=ref_data, timeout=1800)
one_run = time.time() - t0
t.check(p.returncode == 0 and s and s["added"] == N_DOCS, f"reference run adds {N_DOCS} documents",
        p.stdout[-300:] + p.stderr[-300:])
ref = snapshot(ref_data)
t.check(ref["vcount"] == ref["n_chunks"] and ref["vseq"] == ref["seq"],
        "reference: one vector per chunk", str({k: ref[k] for k in ("vcount", "n_chunks")}))

# The same run, killed again and again.
data = new_data()
kills = 0
finished_early = 0
for k in range(KILLS):
    proc = subprocess.Popen([ragd_path(), "--data", data, "ingest", src],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Anywhere from start-up (model load, reconcile) to late in the run.
    time.sleep(rng.uniform(0.0, max(0.5, one_run * 0.12)))
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        kills += 1
    else:
        finished_early += 1
    proc.wait()
t.check(kills >= KILLS * 0.8, f"{kills} of {KILLS} runs were killed mid-way",
        f"{finished_early} finished before their kill")

p, s = run_json(["ingest", src], data=data, timeout=1800)
t.check(p.returncode == 0 and s and s["failed"] == 0, "the final run completes",
        p.stdout[-300:] + p.stderr[-300:])
got = snapshot(data)
t.check(len(got["docs"]) == N_DOCS, f"exactly {N_DOCS} documents", str(len(got["docs"])))
t.check(got["docs"] == ref["docs"], "the same documents with the same text as one clean run")
t.check(got["chunks"] == ref["chunks"], "the same chunks (source, ordinal, span, text)",
        f"{len(got['chunks'])} vs {len(ref['chunks'])}")
t.check(got["orphans"] == 0 and got["gaps"] == 0, "no orphan chunks, no gaps in ordinals")
t.check(got["fts"] == got["n_chunks"], "one lexical index row per chunk",
        f"{got['fts']} vs {got['n_chunks']}")
t.check(got["vcount"] == got["n_chunks"] and got["vseq"] == got["seq"],
        "vector file: one vector per chunk, in step with the store",
        f"vectors {got['vcount']} seq {got['vseq']}; chunks {got['n_chunks']} seq {got['seq']}")
t.check(got["errors"] == 0, "no file left in error")

# A last run changes nothing, and search works on the result.
p, s = run_json(["ingest", src], data=data)
t.check(s and s["unchanged"] == N_DOCS and s["added"] == 0 and s["updated"] == 0,
        "a further run changes nothing", str(s))
PICK = N_DOCS // 2
p, r = run_json(["search", "--mode", "dense", "-k", "3", doc_text(PICK)[:200]], data=data)
t.check(r and r["results"] and r["results"][0]["source"].endswith(f"doc{PICK:04d}.md"),
        "dense search finds a document by its own text", str(r)[:300])
print(f"ingest_kill: seed {SEED}, {kills} kills, clean run {one_run:.1f}s", file=sys.stderr)
t.done()
