"""`ragd serve` under parallel reads and writes: searchers (every mode),
answers and chat completions run while uploaders add, replace and delete
documents in the same collection. Every response must be a 2xx; afterwards
the collection holds exactly the documents that were kept, each found by
its unique word in every mode, none of the deleted ones, and one vector per
chunk; the vector file the server saved is stamped current.

scripts/tsan.sh runs this against the ThreadSanitizer build
(RAGD_TSAN=1): the server's stderr must then hold no ThreadSanitizer
report. RAGD_CONCURRENCY_SECONDS sets how long the storm lasts."""
import os
import random
import re
import shutil
import sqlite3
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Checks, corpus_and_queries, model_or_skip, run, run_json,  # noqa: E402
                     sanitized, tempdir)
from serve_util import Server  # noqa: E402

MODEL = model_or_skip()
TSAN = bool(os.environ.get("RAGD_TSAN"))
SECONDS = float(os.environ.get("RAGD_CONCURRENCY_SECONDS") or (12 if sanitized() or TSAN else 6))
t = Checks("concurrency")
corpus, queries = corpus_and_queries()
data = tempdir()
p = run(["model", "import", MODEL], data=data)
t.check(p.returncode == 0, "model import", p.stderr)
# two loader threads beside the writer, whatever the machine's core count
p, s = run_json(["ingest", "--loaders", "2", corpus], data=data, timeout=1800)
t.check(p.returncode == 0 and s and s["failed"] == 0, "ingest the corpus", p.stderr[-3000:])
if TSAN:
    n = p.stderr.count("WARNING: ThreadSanitizer")
    print(f"ThreadSanitizer reports while ingesting: {n}", file=sys.stderr)
    t.check(n == 0, "no ThreadSanitizer report from the ingestion pipeline", p.stderr[-4000:])

# vectors saved a second after a worker's first unsaved write, so that
# deferred saves run during the storm, between other workers' writes
srv = Server(data, "--quiet-requests", "--workers", "4", "--save-interval", "1")
stop = threading.Event()
failures, counts = [], {}
lock = threading.Lock()


def note(kind, ok, detail=""):
    with lock:
        counts[kind] = counts.get(kind, 0) + 1
        if not ok and len(failures) < 20:
            failures.append(f"{kind}: {detail}"[:300])


def reader(i):
    rng = random.Random(i)
    while not stop.is_set():
        q = rng.choice(queries)["query"]
        kind = rng.choice(["search", "search", "answer", "chat"])
        try:
            if kind == "search":
                mode = rng.choice(["hybrid", "dense", "lexical"])
                coll = rng.choice([None, "up"])
                body = {"query": q, "k": 5, "mode": mode}
                if coll:
                    body["collection"] = coll
                st, _, o, raw = srv.request("POST", "/v1/search", body)
                # the "up" collection may not exist yet when the first search runs
                ok = st == 200 or (coll and st == 404)
            elif kind == "answer":
                st, _, o, raw = srv.request("POST", "/v1/answer", {"question": q})
                ok = st == 200 and o and "answer" in o
            else:
                st, _, o, raw = srv.request("POST", "/v1/chat/completions", {
                    "model": "default", "messages": [{"role": "user", "content": q}]})
                ok = st == 200 and o and o["choices"][0]["message"]["content"]
            note(kind, ok, f"{st} {raw[:200]!r}")
        except Exception as e:  # noqa: BLE001
            note(kind, False, repr(e))


kept, deleted = {}, {}


def writer(w):
    rng = random.Random(100 + w)
    n = 0
    while not stop.is_set():
        n += 1
        word = f"zq{w}x{n}word"
        src = f"w{w}-{n}.md"
        text = f"# Bulletin {w}-{n}\n\n" + (f"The {word} procedure covers badge renewal, "
                                               f"parking permits and the visitor desk. "
                                               * rng.randint(1, 30))
        try:
            st, _, o, raw = srv.request("POST", "/v1/collections/up/documents",
                                        {"text": text, "title": f"Bulletin {w}-{n}",
                                         "source": src, "format": "markdown"})
            ok = st in (200, 201) and o and o["chunks"] >= 1
            note("upload", ok, f"{st} {raw[:200]!r}")
            if not ok:
                continue
            doc_id = o["id"]
            if rng.random() < 0.4:
                st, _, o, raw = srv.request("DELETE", f"/v1/collections/up/documents/{doc_id}")
                ok = st == 200 and o and o["deleted"]
                note("delete", ok, f"{st} {raw[:200]!r}")
                if ok:
                    deleted[src] = word
            else:
                kept[src] = word
        except Exception as e:  # noqa: BLE001
            note("upload", False, repr(e))


threads = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
threads += [threading.Thread(target=writer, args=(w,)) for w in range(2)]
for th in threads:
    th.start()
time.sleep(SECONDS)
stop.set()
for th in threads:
    th.join(300)
print(f"requests: {counts}, {len(kept)} documents kept, {len(deleted)} deleted", file=sys.stderr)
t.check(not failures, "every request during the storm was answered with a 2xx", "\n".join(failures))
# (instrumented builds on one core manage a few requests a second)
t.check(counts.get("upload", 0) >= 2 and counts.get("search", 0) >= 5,
        "the storm ran reads and writes", str(counts))

# afterwards: exactly the kept documents, each findable, the deleted ones gone
st, _, o, _ = srv.request("GET", "/v1/collections/up/documents?limit=1000")
listed = sorted(d["source"] for d in o["documents"]) if st == 200 and o else None
t.check(listed == sorted(kept), "the collection lists exactly the kept documents",
        f"{len(listed or [])} listed, {len(kept)} kept")
missing = []
for src, word in list(kept.items())[:10]:
    # lexical: first; hybrid: among the first five (the bulletins differ in
    # that one word only, which the dense leg cannot tell apart)
    for mode, depth in (("lexical", 1), ("hybrid", 5)):
        st, _, o, _ = srv.request("POST", "/v1/search", {"query": word, "collection": "up",
                                                          "mode": mode, "k": 5})
        if not (st == 200 and any(r["source"] == src for r in o["results"][:depth])):
            missing.append(f"{mode} {word}")
t.check(not missing, "every kept document is found by its own word", str(missing))
ghosts = []
for src, word in list(deleted.items())[:10]:
    st, _, o, _ = srv.request("POST", "/v1/search", {"query": word, "collection": "up",
                                                      "mode": "lexical", "k": 3})
    if st != 200 or any(r["source"] == src for r in o["results"]):
        ghosts.append(word)
t.check(not ghosts, "no deleted document comes back", str(ghosts))
srv_metrics = srv.request("GET", "/metrics")
t.check(srv.stop() == 0, "the server stops cleanly")
# The vector file of the collection the storm wrote is current: stamped
# with the store's change sequence (index/vectors.c header, bytes 24-31).
# A worker whose vectors fell behind the store saves its file stamped stale
# instead (and logs it), which `ragd stats` below would quietly repair.
db = sqlite3.connect(os.path.join(data, "ragd.db"))
seq = db.execute("SELECT value FROM meta WHERE key = 'change_seq'").fetchone()[0]
up_id = db.execute("SELECT id FROM collections WHERE name = 'up'").fetchone()[0]
db.close()
with open(os.path.join(data, "vectors", f"{up_id}.rgv"), "rb") as f:
    stamp = struct.unpack_from("<Q", f.read(32), 24)[0]
t.check(stamp == seq, "the server left the collection's vector file current",
        f"stamp {stamp}, store sequence {seq}")
behind = [line for line in srv.lines if "saved as stale" in line]
t.check(not behind, "no upload saved vectors behind the store", "".join(behind[:5]))
st, _, _, raw = srv_metrics
m = re.search(rb'ragd_vector_saves_total\{result="ok"\} (\d+)', raw or b"")
print(f"deferred vector saves during the storm: {m and int(m.group(1))}", file=sys.stderr)
t.check(st == 200 and m and int(m.group(1)) >= 1, "workers saved vectors during the storm",
        (raw or b"")[-400:])
p, st = run_json(["stats"], data=data)
up = [c for c in (st or {}).get("collections", []) if c["name"] == "up"]
t.check(p.returncode == 0 and up and up[0]["vectors"] == up[0]["chunks"] and
        up[0]["documents"] == len(kept), "one vector per chunk after the storm", str(st))
if TSAN:
    reports = [line for line in srv.lines if "WARNING: ThreadSanitizer" in line]
    print(f"ThreadSanitizer reports: {len(reports)}", file=sys.stderr)
    t.check(not reports, "no ThreadSanitizer report from the server",
            "".join(srv.lines[:200])[-4000:])
shutil.rmtree(data, ignore_errors=True)
if sanitized():
    shutil.rmtree(corpus, ignore_errors=True)
t.done()
