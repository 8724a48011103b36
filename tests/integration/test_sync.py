"""ragd sync: a collection mirrors folders. Adds, updates and deletes reach
both indexes (the vector file's count equals the chunk count and its change
sequence is the store's, so nothing is left for a later reconcile);
--dry-run prints the exact diff and writes nothing; a second run changes
nothing and reads no file; a settings change re-chunks; a file that fails
keeps its previous document; PII masking switched on updates only the
files it changes."""
import glob
import os
import sqlite3
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checks, model_or_skip, run, run_json, tempdir  # noqa: E402
from serve_util import Server  # noqa: E402

t = Checks("sync")
data = tempdir()
src = tempdir("ragd-sync-src-")
p = run(["model", "import", model_or_skip()], data=data)
t.check(p.returncode == 0, "model import", p.stderr)

DOCS = {
    "a.txt": "Aardvarks dig burrows at night.\n\nThey eat ants and termites with long tongues.\n",
    "b.md": "# Bears\n\nBrown bears fish for salmon in cold rivers every autumn.\n",
    "sub/c.html": "<html><head><title>Cheetahs</title></head><body><p>Cheetahs sprint "
                  "faster than any other land animal.</p></body></html>",
    "sub/d.txt": "Dolphins sleep with one half of the brain at a time.\n",
    "sub/deep/e.md": "# Eels\n\nElectric eels stun their prey with strong currents.\n",
    "f.txt": "Flamingos are pink because of the shrimp they eat.\n",
}


def write(rel, text, mode="w"):
    path = os.path.join(src, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
        f.write(text)
    return path


def sync(*args):
    p, s = run_json(["sync"] + list(args) + [src], data=data)
    return p, s or {}


def db():
    return sqlite3.connect(os.path.join(data, "ragd.db"))


def counts():
    c = db()
    docs = c.execute("SELECT count(*) FROM documents").fetchone()[0]
    chunks = c.execute("SELECT count(*) FROM chunks").fetchone()[0]
    seq = c.execute("SELECT value FROM meta WHERE key = 'change_seq'").fetchone()[0]
    c.close()
    return docs, chunks, seq


def vector_file():
    """(count, change sequence) from the vector file's header (vectors.c)."""
    files = glob.glob(os.path.join(data, "vectors", "*.rgv"))
    if len(files) != 1:
        return None, None
    with open(files[0], "rb") as f:
        h = f.read(48)
    return struct.unpack_from("<Q", h, 32)[0], struct.unpack_from("<Q", h, 24)[0]


def consistent(what):
    docs, chunks, seq = counts()
    n, vseq = vector_file()
    t.check(n == chunks and vseq == seq, f"{what}: vector file holds every chunk, in step",
            f"vectors {n} (seq {vseq}), chunks {chunks} (seq {seq})")
    return docs


def found(query, mode):
    p, r = run_json(["search", "--mode", mode, "-k", "10", query], data=data)
    return [os.path.relpath(h["source"], src) for h in (r or {}).get("results", [])
            if h.get("source")]


for rel, text in DOCS.items():
    write(rel, text)

# A dry run on an empty data directory lists every file and creates nothing.
p, s = sync("--dry-run")
plan = s.get("plan", {})
t.check(p.returncode == 0 and s.get("dry_run") is True, "dry run succeeds", p.stdout + p.stderr)
t.check(sorted(os.path.relpath(x, src) for x in plan.get("add", [])) == sorted(DOCS)
        and plan.get("update") == [] and plan.get("delete") == [], "dry run plans 6 adds", str(s))
t.check(counts()[0] == 0, "dry run wrote no document")
p = run(["sync", "--dry-run", src], data=data)
lines = sorted(line.split() for line in p.stdout.splitlines() if line.startswith("add"))
t.check([x[1] for x in lines] == sorted(os.path.join(src, r) for r in DOCS),
        "text dry run prints one 'add PATH' line per file", p.stdout)

p, s = sync()
t.check(p.returncode == 0 and s.get("added") == 6 and s.get("deleted") == 0, "first sync adds 6",
        p.stdout + p.stderr)
t.check(consistent("first sync") == 6, "6 documents stored")

# Twice changes nothing, and the second run reads no file at all.
seq_before = counts()[2]
p, s = sync()
t.check(s.get("unchanged") == 6 and s.get("added") == 0 and s.get("updated") == 0
        and s.get("deleted") == 0, "second sync changes nothing", str(s))
t.check(s.get("bytes") == 0, "second sync reads no file (size and mtime match)", str(s))
t.check(counts()[2] == seq_before, "second sync leaves the change sequence alone")

# A touched file is read again, found unchanged, and not read on the next run.
later = time.time() + 5
os.utime(os.path.join(src, "f.txt"), (later, later))
p, s = sync()
t.check(s.get("unchanged") == 6 and s.get("bytes") == len(DOCS["f.txt"]),
        "touched file is hashed, found unchanged", str(s))
p, s = sync()
t.check(s.get("bytes") == 0, "then it is not read again", str(s))

# Each file's manifest row names the loader that read it and its version;
# a loader's new version (here: the rows say markdown was read at version
# 0) makes sync read again only that loader's files. Their text is the same,
# so nothing is re-chunked; the rows then carry the current version.
def write_sql(sql):
    """Changes the store behind ragd's back (what an older ragd would have written)."""
    c = db()
    c.execute(sql)
    c.commit()
    c.close()


def manifest():
    c = db()
    rows = dict(c.execute("SELECT source_uri, settings_hash FROM manifest").fetchall())
    c.close()
    return {os.path.relpath(k, src): v for k, v in rows.items()}


tags = {k: v[v.find("+l"):] if "+l" in v else "" for k, v in manifest().items()}
t.check(tags == {"a.txt": "+ltext.1", "b.md": "+lmarkdown.1", "sub/c.html": "+lhtml.1",
                 "sub/d.txt": "+ltext.1", "sub/deep/e.md": "+lmarkdown.1", "f.txt": "+ltext.1"},
        "manifest rows name each file's loader and version", str(tags))
chunk_ids = sorted(r[0] for r in db().execute("SELECT id FROM chunks").fetchall())
write_sql("UPDATE manifest SET settings_hash = replace(settings_hash, '+lmarkdown.1', "
          "'+lmarkdown.0')")
p, s = sync()
md_bytes = len(DOCS["b.md"].encode()) + len(DOCS["sub/deep/e.md"].encode())
t.check(s.get("unchanged") == 6 and s.get("updated") == 0 and s.get("bytes") == md_bytes,
        "a markdown loader version change reads the two .md files only", str(s))
t.check(sorted(r[0] for r in db().execute("SELECT id FROM chunks").fetchall()) == chunk_ids,
        "same loaded text: nothing re-chunked", "")
t.check(all(v.endswith("+lmarkdown.1") for k, v in manifest().items() if k.endswith(".md")),
        "their rows carry the current version again", str(manifest()))
# a row from before loader versions (no suffix) counts as version 1: not read
write_sql("UPDATE manifest SET settings_hash = substr(settings_hash, 1, "
          "instr(settings_hash, '+l') - 1)")
p, s = sync()
t.check(s.get("unchanged") == 6 and s.get("bytes") == 0,
        "rows without a loader version are current while loaders are at version 1", str(s))

# Modify one, delete one, add one: the dry run names exactly those.
write("b.md", "# Bears\n\nPolar bears hunt seals on the sea ice of the Arctic.\n")
os.remove(os.path.join(src, "sub/d.txt"))
write("sub/g.txt", "Gorillas live in family troops led by a silverback.\n")
p, s = sync("--dry-run")
plan = {k: [os.path.relpath(x, src) for x in v] for k, v in s.get("plan", {}).items()}
t.check(plan == {"add": ["sub/g.txt"], "update": ["b.md"], "delete": ["sub/d.txt"]},
        "dry run lists the add, the update and the delete", str(s))
t.check("sub/d.txt" in found("dolphins sleep brain", "lexical"),
        "dry run deleted nothing")
p, s = sync()
t.check(s.get("added") == 1 and s.get("updated") == 1 and s.get("deleted") == 1
        and s.get("unchanged") == 4, "sync applies them", str(s))
t.check(consistent("after add/update/delete") == 6, "6 documents after the changes")
for mode in ("lexical", "dense"):
    t.check("sub/d.txt" not in found("dolphins sleep with one half of the brain", mode),
            f"deleted file gone from the {mode} leg")
t.check(found("polar bears seals arctic", "dense")[:1] == ["b.md"], "updated text is embedded")
t.check(found("silverback gorilla troops", "dense")[:1] == ["sub/g.txt"], "added file embedded")

# A settings change re-chunks everything once; then nothing.
p, s = sync("--chunk-tokens", "64", "--overlap", "8", "--dry-run")
t.check(len(s.get("plan", {}).get("update", [])) == 6, "chunk size change: 6 updates planned",
        str(s))
p, s = sync("--chunk-tokens", "64", "--overlap", "8")
t.check(s.get("updated") == 6, "chunk size change re-chunks 6", str(s))
p, s = sync("--chunk-tokens", "64", "--overlap", "8")
t.check(s.get("unchanged") == 6 and s.get("bytes") == 0, "same settings: nothing again", str(s))
consistent("after re-chunking")

# Excluded files leave the collection.
p, s = sync("--chunk-tokens", "64", "--overlap", "8", "--exclude", "sub/*")
t.check(s.get("deleted") == 3 and s.get("unchanged") == 3, "--exclude sub/* deletes 3", str(s))
t.check(consistent("after exclude") == 3, "3 documents left")

# A file that fails keeps its previous document and is retried.
write("f.txt", b"Flamingos \xff\xfe broken bytes\n", mode="wb")
p, s = sync("--chunk-tokens", "64", "--overlap", "8", "--exclude", "sub/*")
t.check(p.returncode == 1 and s.get("failed") == 1 and "f.txt" in p.stderr,
        "invalid UTF-8 fails with a message", p.stdout + p.stderr)
t.check("f.txt" in found("flamingos pink shrimp", "lexical"), "failed file keeps its document")
p, s = sync("--chunk-tokens", "64", "--overlap", "8", "--exclude", "sub/*")
t.check(s.get("failed") == 1, "a failed file is retried on the next run", str(s))
os.remove(os.path.join(src, "f.txt"))
p, s = sync("--chunk-tokens", "64", "--overlap", "8", "--exclude", "sub/*")
t.check(p.returncode == 0 and s.get("deleted") == 1, "removing it deletes its old document", str(s))
c = db()
t.check(c.execute("SELECT count(*) FROM manifest WHERE source_uri LIKE '%f.txt'").fetchone()[0]
        == 0, "and its manifest row")
c.close()

# ragd rm forgets the manifest row too: the next sync adds the file again.
p = run(["rm", os.path.join(src, "a.txt")], data=data)
p, s = sync("--chunk-tokens", "64", "--overlap", "8", "--exclude", "sub/*")
t.check(s.get("added") == 1, "a file removed with 'ragd rm' is added back by sync", str(s))

# Masking on: only the file with personal data changes.
write("h.txt", "Herons nest in colonies. Contact heron.watch@example.com for visits.\n")
p, s = sync("--chunk-tokens", "64", "--overlap", "8", "--exclude", "sub/*")
t.check(s.get("added") == 1, "h.txt added", str(s))
p, s = sync("--chunk-tokens", "64", "--overlap", "8", "--exclude", "sub/*", "--pii-mask")
t.check(s.get("updated") == 1 and s.get("unchanged") == 2, "--pii-mask updates only h.txt",
        str(s))
p, r = run_json(["search", "--mode", "lexical", "-k", "3", "herons colonies"], data=data)
texts = " ".join(h["text"] for h in (r or {}).get("results", []))
t.check("[EMAIL]" in texts and "heron.watch" not in texts, "the address is masked in the index",
        texts)
consistent("at the end")

# Errors: a missing folder deletes nothing.
docs_before = counts()[0]
p = run(["sync", os.path.join(src, "missing")], data=data)
t.check(p.returncode != 0 and "missing" in p.stderr, "missing folder is an error", p.stderr)
t.check(counts()[0] == docs_before, "and deletes nothing")

# The HTTP endpoint is the same sync: dry run with its plan, then deletes.
root = tempdir("ragd-sync-root-")
os.makedirs(os.path.join(root, "kb"))
for name, text in (("one.md", "# One\n\nOtters hold hands while sleeping.\n"),
                   ("two.md", "# Two\n\nPenguins propose with pebbles.\n")):
    with open(os.path.join(root, "kb", name), "w", encoding="utf-8") as f:
        f.write(text)
srv = Server(data, "--sync-root", root)
try:
    st, _, o, _ = srv.request("POST", "/v1/collections/kb/sync", {"path": "kb"})
    t.check(st == 200 and o["added"] == 2 and o["deleted"] == 0 and o["dry_run"] is False,
            "HTTP sync adds 2", str(o))
    os.remove(os.path.join(root, "kb", "two.md"))
    st, _, o, _ = srv.request("POST", "/v1/collections/kb/sync", {"path": "kb", "dry_run": True})
    t.check(st == 200 and o.get("plan") == {"add": [], "update": [],
                                            "delete": [os.path.join(root, "kb", "two.md")]},
            "HTTP dry run plans the delete", str(o))
    st, _, o, _ = srv.request("POST", "/v1/search", {"query": "penguins pebbles",
                                                      "collection": "kb", "mode": "lexical"})
    t.check(st == 200 and [r.get("source") for r in o["results"]] ==
            [os.path.join(root, "kb", "two.md")], "the dry run deleted nothing", str(o)[:300])
    st, _, o, _ = srv.request("POST", "/v1/collections/kb/sync", {"path": "kb"})
    t.check(st == 200 and o["deleted"] == 1 and o["unchanged"] == 1, "HTTP sync deletes", str(o))
    for mode in ("lexical", "dense"):
        st, _, o, _ = srv.request("POST", "/v1/search", {"query": "penguins propose with pebbles",
                                                          "collection": "kb", "mode": mode})
        srcs = [r.get("source", "") for r in (o or {}).get("results", [])]
        t.check(st == 200 and not any(x.endswith("two.md") for x in srcs),
                f"deleted file gone from the {mode} leg over HTTP", str(o)[:300])
    st, _, o, _ = srv.request("POST", "/v1/collections/kb/sync", {"path": "kb", "dry_run": 1})
    t.check(st == 400, "dry_run must be a boolean", str(o))
    for bad in ([], "msg", [""], ["x" * 64], [1], ["f"] * 33):
        st, _, o, _ = srv.request("POST", "/v1/collections/kb/sync",
                                  {"path": "kb", "json_text_fields": bad})
        t.check(st == 400 and "json_text_fields" in o["error"]["message"],
                f"json_text_fields {str(bad)[:20]} is refused", str(o))
    # a JSONL file read through the named fields, over HTTP (a dry run: the
    # counters below stay those of the syncs above)
    with open(os.path.join(root, "kb", "rec.jsonl"), "w", encoding="utf-8") as f:
        f.write('{"msg": "Herons stand on one leg.", "head": "Herons"}\n')
    st, _, o, _ = srv.request("POST", "/v1/collections/kb/sync",
                              {"path": "kb", "dry_run": True, "json_text_fields": ["msg"],
                               "json_title_fields": ["head"]})
    t.check(st == 200 and o["plan"]["add"] == [os.path.join(root, "kb", "rec.jsonl")]
            and o["unchanged"] == 1, "HTTP sync takes JSON field lists", str(o))
    os.remove(os.path.join(root, "kb", "rec.jsonl"))
    # The ingestion counters: two syncs that changed something, one dry run that did not.
    st, _, _, raw = srv.request("GET", "/metrics")
    metrics = {}
    for line in raw.decode().splitlines():
        if line.startswith("ragd_ingest"):
            name, value = line.rsplit(" ", 1)
            metrics[name] = float(value)
    want = {'ragd_ingest_documents_total{result="added"}': 2,
            'ragd_ingest_documents_total{result="deleted"}': 1,
            'ragd_ingest_documents_total{result="unchanged"}': 1,
            'ragd_ingest_documents_total{result="failed"}': 0}
    t.check(st == 200 and all(metrics.get(k) == v for k, v in want.items())
            and metrics.get("ragd_ingest_chunks_total", 0) >= 2
            and metrics.get("ragd_ingest_bytes_total", 0) > 0
            and metrics.get("ragd_ingest_seconds_total", 0) > 0,
            "/metrics counts what the syncs did", str(metrics))
finally:
    srv.stop()

# ---- JSON field lists: part of the settings, re-chunking only the files they change ----
jdata, jdir = tempdir("ragd-json-data-"), tempdir("ragd-json-docs-")
with open(os.path.join(jdir, "notes.jsonl"), "w") as f:
    f.write('{"msg": "The okapijf lives in forests.", "subject": "Okapi note", "id": 7}\n'
            '{"msg": "A second gerenukjf record.", "subject": "Gerenuk"}\n')
with open(os.path.join(jdir, "page.md"), "w") as f:
    f.write("# Plain\n\nA markdown platypusjf page.\n")


def okapi_text():
    p, r = run_json(["search", "--mode", "lexical", "-k", "1", "okapijf"], data=jdata)
    return r["results"][0]["text"] if r and r["results"] else None


p, s = run_json(["sync", "--lexical-only", jdir], data=jdata)
t.check(p.returncode == 0 and s["added"] == 2, "sync a JSONL file and a page", p.stderr)
text = okapi_text()
t.check(text and "msg: " in text and "id: 7" in text,
        "without text fields named, a record is read as its key: value rows", str(text))
p, dry = run_json(["sync", "--dry-run", "--json-text", "msg", jdir], data=jdata)
plan = (dry or {}).get("plan", {})
t.check(p.returncode == 0 and plan.get("update") == [os.path.join(jdir, "notes.jsonl")]
        and not plan.get("add") and not plan.get("delete"),
        "--json-text in a dry run: only the JSON file would be updated", p.stdout + p.stderr)
p, s = run_json(["sync", "--lexical-only", "--json-text", "msg", "--json-title", "subject", jdir],
                data=jdata)
t.check(p.returncode == 0 and s["updated"] == 1 and s["unchanged"] == 1,
        "new JSON fields re-chunk the JSON file and leave the page", p.stdout + p.stderr)
text = okapi_text()
t.check(text and "msg:" not in text and "id: 7" not in text and "The okapijf lives" in text,
        "the named field is the text", str(text))
p, s = run_json(["sync", "--lexical-only", "--json-text", "msg", "--json-title", "subject", jdir],
                data=jdata)
t.check(p.returncode == 0 and s["unchanged"] == 2, "the same fields again change nothing",
        p.stdout + p.stderr)
p = run(["sync", "--json-text", ",", jdir], data=jdata)
t.check(p.returncode == 2 and "field name" in p.stderr, "an empty field list is refused", p.stderr)
p = run(["sync", "--json-text", "x" * 80, jdir], data=jdata)
t.check(p.returncode != 0 and "JSON field names" in p.stderr, "an overlong field name is refused",
        p.stderr)

t.done()
