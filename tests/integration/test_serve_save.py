"""Deferred vector saves in `ragd serve` (--save-interval). An upload or a
delete changes the dense index in memory and is searchable at once, but
does not rewrite the collection's vector file (a dump of the whole index,
about 1.8 kB a vector) with every write: the worker saves it once the
interval has passed, stamped with the store's change sequence, and counts
it in /metrics. A server killed with unsaved vectors loses no document:
the next start embeds what the file lacks and drops what the store
deleted; a graceful stop saves what waits. --save-interval 0 saves with
every write, as before."""
import glob
import hashlib
import os
import re
import shutil
import sqlite3
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checks, model_or_skip, run, sanitized, tempdir  # noqa: E402
from serve_util import TIMEOUT, Server  # noqa: E402

MODEL = model_or_skip()
# long enough that the checks made right after a write come before the save
INTERVAL = 10 if sanitized() else 3
t = Checks("serve_save")
data = tempdir()
p = run(["model", "import", MODEL], data=data)
t.check(p.returncode == 0, "model import", p.stderr)

TOPICS = {
    "volcano": "Volcanoes erupt when molten lava and gas rise through the crust; "
               "ash clouds from an eruption can ground flights for days.",
    "cake": "To bake a chocolate cake, cream butter and sugar, fold in cocoa and "
            "flour, and bake the batter for forty minutes.",
    "bicycle": "To repair a bicycle puncture, take the wheel off, find the hole in the "
               "inner tube, patch it and pump the tyre up again.",
    "garden": "Tomato plants in the garden need sun, regular watering and a stake "
              "to climb as the fruit grows heavy.",
}


def upload(srv, topic):
    st, _, o, raw = srv.request("POST", "/v1/collections/notes/documents",
                                {"text": f"# {topic}\n\n{TOPICS[topic]}\n", "title": topic,
                                 "source": f"{topic}.md", "format": "markdown"})
    t.check(st in (200, 201) and o and o["chunks"] >= 1, f"upload {topic}", f"{st} {raw[:300]!r}")
    return o["id"] if o else None


def dense_top(srv, query, k=10):
    st, _, o, raw = srv.request("POST", "/v1/search", {"query": query, "collection": "notes",
                                                       "mode": "dense", "k": k})
    t.check(st == 200 and o is not None, f"dense search '{query}'", f"{st} {raw[:300]!r}")
    return [r["source"] for r in (o or {}).get("results", [])]


def store():
    c = sqlite3.connect(os.path.join(data, "ragd.db"))
    seq = int(c.execute("SELECT value FROM meta WHERE key = 'change_seq'").fetchone()[0])
    chunks = c.execute("SELECT count(*) FROM chunks").fetchone()[0]
    c.close()
    return seq, chunks


def vector_file():
    """The collection's vector file header (index/vectors.c: stamp at byte
    24, count at 32) and a digest of the whole file; None when absent."""
    files = glob.glob(os.path.join(data, "vectors", "*.rgv"))
    if len(files) != 1:
        return None
    with open(files[0], "rb") as f:
        b = f.read()
    return {"stamp": struct.unpack_from("<Q", b, 24)[0], "count": struct.unpack_from("<Q", b, 32)[0],
            "sha": hashlib.sha256(b).hexdigest()}


def current(what):
    seq, chunks = store()
    v = vector_file()
    ok = v is not None and v["stamp"] == seq and v["count"] == chunks
    t.check(ok, f"{what}: the vector file holds every chunk, stamped current",
            f"file {v and (v['count'], v['stamp'])}, store chunks {chunks}, sequence {seq}")


# ---- writes answer at once and are searchable; the file follows later ----
# one worker: with two, each saves its own changes on its own clock
servers = [Server(data, "--save-interval", str(INTERVAL), "--workers", "1")]
srv = servers[-1]
t0 = time.monotonic()
upload(srv, "volcano")
upload(srv, "cake")
early = time.monotonic() - t0 < INTERVAL - 0.5
t.check(not early or vector_file() is None,
        "no vector file right after the uploads (the save waits for the interval)")
t.check(dense_top(srv, "how do I bake a chocolate cake")[:1] == ["cake.md"],
        "an upload is found by a dense search at once, before any save")
saved_at = None
while time.monotonic() - t0 < INTERVAL + 4 * TIMEOUT:
    v = vector_file()
    if v and v["stamp"] == store()[0]:
        saved_at = time.monotonic() - t0
        break
    time.sleep(0.2)
print(f"first save {saved_at} s after the first upload (interval {INTERVAL} s)", file=sys.stderr)
t.check(saved_at is not None and saved_at >= INTERVAL - 0.5,
        "the worker saved the vectors once the interval had passed, not before", str(saved_at))
current("after the deferred save")
st, _, _, raw = srv.request("GET", "/metrics")
m = re.search(rb'ragd_vector_saves_total\{result="ok"\} (\d+)', raw)
t.check(st == 200 and m and int(m.group(1)) >= 1, "/metrics counts the save", raw[-600:])

# ---- a delete is gone from results at once; killed before the next save ----
before = vector_file()
volcano = [r for r in dense_top(srv, "lava eruption ash cloud") if r == "volcano.md"]
t.check(volcano == ["volcano.md"], "the volcano note is found before its delete")
st, _, o, raw = srv.request("GET", "/v1/collections/notes/documents?limit=10")
ids = {d["source"]: d["id"] for d in (o or {}).get("documents", [])}
t1 = time.monotonic()
st, _, o, raw = srv.request("DELETE", f"/v1/collections/notes/documents/{ids.get('volcano.md')}")
t.check(st == 200 and o and o["deleted"], "delete the volcano note", f"{st} {raw[:300]!r}")
upload(srv, "bicycle")
t.check("volcano.md" not in dense_top(srv, "lava eruption ash cloud"),
        "a deleted document is gone from dense results at once")
early = time.monotonic() - t1 < INTERVAL - 0.5
after = vector_file()
t.check(not early or (after and after["sha"] == before["sha"]),
        "the delete and the upload did not rewrite the vector file")
early = time.monotonic() - t1 < INTERVAL - 0.5  # (under valgrind the save may come first)
srv.kill()  # SIGKILL: the delete and the bicycle note are not in the file
v, (seq, chunks) = vector_file(), store()
t.check(not early or (v and v["stamp"] != seq), "the killed server left the file behind the store",
        f"file {v and (v['count'], v['stamp'])}, store {chunks} chunks, sequence {seq}")

# ---- the next start repairs it; a graceful stop saves the repair ----
servers.append(Server(data, "--save-interval", "600"))
srv = servers[-1]
t.check(dense_top(srv, "fix a flat tyre on my bike")[:1] == ["bicycle.md"],
        "after the kill, the upload the file lacked is found by a dense search")
t.check("volcano.md" not in dense_top(srv, "lava eruption ash cloud"),
        "after the kill, the document deleted before it stays gone")
upload(srv, "garden")
t.check(srv.stop() == 0, "the server stops cleanly")
current("after a graceful stop with unsaved vectors (interval 600 s)")

# ---- --save-interval 0: every write saves ----
servers.append(Server(data, "--save-interval", "0"))
srv = servers[-1]
upload(srv, "volcano")
current("right after an upload with --save-interval 0")
t.check(srv.stop() == 0, "the server stops cleanly")
stale = [line for s in servers for line in s.lines if "saved as stale" in line or "saving the vector" in line]
t.check(not stale, "no save was stale or failed", "".join(stale[:5]))
shutil.rmtree(data, ignore_errors=True)
t.done()
