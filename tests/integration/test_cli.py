"""Drives the real ragd binary over corpus/: ingest, search in English and
Chinese, idempotent re-ingest, updates, rm, and clear errors for bad input."""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checks, one_error_line, run, run_json, source_root, tempdir  # noqa: E402

t = Checks("cli")
root = source_root()
corpus = os.path.join(root, "corpus")
queries = json.load(open(os.path.join(root, "tests", "integration", "corpus_queries.json")))
data = tempdir()
n_docs = sum(1 for d, _, fs in os.walk(corpus) for f in fs
             if f.endswith((".md", ".html", ".txt")) and f != "README.md") + 1  # + README.md

# --- ingest ----------------------------------------------------------------
p, s = run_json(["ingest", corpus], data=data)
t.check(p.returncode == 0, "ingest corpus exits 0", p.stderr)
t.check(s and s["failed"] == 0 and s["added"] == n_docs and s["chunks"] >= n_docs,
        f"ingest adds all {n_docs} documents", str(s))

# --- every corpus query finds its document in the top 3 ------------------------
for q in queries:
    p, r = run_json(["search", "-k", "3", q["query"]], data=data)
    ok = p.returncode == 0 and r is not None
    sources = [h["source"] for h in r["results"]] if ok else []
    found = any(src.endswith("/" + q["expect"]) for src in sources)
    t.check(found, f"[{q['lang']}] {q['query']!r} -> {q['expect']} in top 3",
            f"got {[os.path.relpath(x, corpus) for x in sources]} {p.stderr}")
    if found:
        hit = next(h for h in r["results"] if h["source"].endswith("/" + q["expect"]))
        doc = open(os.path.join(corpus, q["expect"]), encoding="utf-8").read()
        t.check(hit["title"] != "" and hit["byte_end"] > hit["byte_start"],
                f"hit for {q['query']!r} has a title and a span")

# text output carries title, source and highlighted snippet
p = run(["search", "-k", "1", "VPN"], data=data)
t.check(p.returncode == 0 and "**" in p.stdout and corpus in p.stdout,
        "text output shows source and highlighted snippet", p.stdout[:500])

# --- re-ingest is a no-op ---------------------------------------------------------
p, s = run_json(["ingest", corpus], data=data)
t.check(p.returncode == 0 and s and s["unchanged"] == n_docs and s["added"] == 0
        and s["chunks"] == 0, "re-ingest changes nothing", str(s))

# --- a changed file replaces its chunks; rm deletes ---------------------------------
work = tempdir("ragd-work-")
note = os.path.join(work, "note.md")
with open(note, "w", encoding="utf-8") as f:
    f.write("# Zebra note\n\nThe quokkaword appears here only.\n")
p, s = run_json(["ingest", "--collection", "scratch", note], data=data)
t.check(p.returncode == 0 and s and s["added"] == 1, "ingest a new note", p.stderr)
p, r = run_json(["search", "--collection", "scratch", "quokkaword"], data=data)
t.check(r and len(r["results"]) == 1, "new note is found in its collection")
p, r = run_json(["search", "--collection", "default", "quokkaword"], data=data)
t.check(r is not None and len(r["results"]) == 0, "collection filter keeps other collections out")
with open(note, "w", encoding="utf-8") as f:
    f.write("# Zebra note\n\nNow it mentions the wallabyword instead.\n")
p, s = run_json(["ingest", "--collection", "scratch", note], data=data)
t.check(s and s["updated"] == 1, "changed file is updated", str(s))
p, r = run_json(["search", "--collection", "scratch", "quokkaword"], data=data)
t.check(r is not None and len(r["results"]) == 0, "old text is gone after update")
p, r = run_json(["search", "--collection", "scratch", "wallabyword"], data=data)
t.check(r and len(r["results"]) == 1, "new text is found after update")
p, s = run_json(["rm", "--collection", "scratch", note], data=data)
t.check(p.returncode == 0 and s and s["removed"] == 1, "rm removes the document", p.stderr)
p, r = run_json(["search", "--collection", "scratch", "wallabyword"], data=data)
t.check(r is not None and len(r["results"]) == 0, "removed document is not found")
p = run(["rm", "--collection", "scratch", note], data=data)
t.check(p.returncode == 1 and one_error_line(p.stderr), "rm of an absent document is an error",
        p.stderr)

# --- include / exclude globs -----------------------------------------------------------
p, s = run_json(["ingest", "--collection", "globs", "--include", "*.html", corpus], data=data)
n_html = sum(1 for d, _, fs in os.walk(corpus) for f in fs if f.endswith(".html"))
t.check(s and s["added"] == n_html, f"--include '*.html' takes the {n_html} HTML files", str(s))
p, s = run_json(["ingest", "--collection", "globs2", "--exclude", "*.html", corpus], data=data)
t.check(s and s["added"] == n_docs - n_html, "--exclude '*.html' leaves them out", str(s))

# --- bad input: one clear line, non-zero exit, the rest still ingested ----------------------
bad = tempdir("ragd-bad-")
with open(os.path.join(bad, "good.txt"), "w") as f:
    f.write("A perfectly fine file about ocelots.\n")
with open(os.path.join(bad, "broken.txt"), "wb") as f:
    f.write(b"hello\xff\xfeworld\n")
with open(os.path.join(bad, "image.txt"), "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
p, s = run_json(["ingest", "--collection", "bad", bad], data=data)
t.check(p.returncode == 1, "a run with failed files exits 1", str(p.returncode))
t.check(s and s["added"] == 1 and s["failed"] == 2, "good file ingested, two failed", str(s))
errs = p.stderr.splitlines()
t.check(any("broken.txt" in l and "byte 5" in l for l in errs),
        "invalid UTF-8 error names the file and byte offset", p.stderr)
t.check(any("image.txt" in l and "binary" in l.lower() for l in errs),
        "binary file is rejected with a clear message", p.stderr)
t.check(all(l.startswith("ragd: error: ") for l in errs), "one error line per failed file",
        p.stderr)

p = run(["ingest", os.path.join(bad, "does-not-exist.md")], data=data)
t.check(p.returncode == 1 and one_error_line(p.stderr) and "does-not-exist.md" in p.stderr,
        "missing path: one line, exit 1", p.stderr)

if os.geteuid() == 0 and shutil.which("setpriv"):
    # root reads everything; drop to nobody so that a mode-000 file is unreadable
    locked = tempdir("ragd-locked-")
    os.chmod(locked, 0o777)
    secret = os.path.join(locked, "secret.txt")
    with open(secret, "w") as f:
        f.write("secret\n")
    os.chmod(secret, 0)
    ndata = os.path.join(locked, "data")
    p = run(["ingest", secret], data=ndata, env={"HOME": locked},
            preexec=lambda: (os.setgid(65534), os.setuid(65534)))
    t.check(p.returncode == 1 and "secret.txt" in p.stderr and "Permission denied" in p.stderr,
            "unreadable file: clear error, exit 1", p.stderr)
    shutil.rmtree(locked, ignore_errors=True)

# --- a corrupt database ------------------------------------------------------------------------
cdata = tempdir("ragd-corrupt-")
with open(os.path.join(cdata, "ragd.db"), "wb") as f:
    f.write(b"this is not a database at all" * 200)
for args in (["search", "anything"], ["ingest", corpus]):
    p = run(args, data=cdata)
    t.check(p.returncode == 1 and one_error_line(p.stderr) and "damaged" in p.stderr,
            f"corrupt database: {args[0]} gives one line and exit 1", p.stderr + str(p.returncode))

# --- ragd check ---------------------------------------------------------------------------------
kdata = tempdir("ragd-check-")
run(["ingest", corpus], data=kdata)
p, r = run_json(["check"], data=kdata)
t.check(p.returncode == 0 and r and r["store"] == "ok" and r["collections"][0]["chunks"] > 0,
        "check passes on a sound store", p.stderr + str(r))
import sqlite3  # noqa: E402
db = sqlite3.connect(os.path.join(kdata, "ragd.db"))
db.execute("DELETE FROM chunks_fts_docsize WHERE id = (SELECT max(id) FROM chunks)")
db.commit()
db.close()
p = run(["check"], data=kdata)
t.check(p.returncode == 1 and one_error_line(p.stderr) and "lexical index" in p.stderr,
        "check names a chunk missing from the lexical index", p.stderr + str(p.returncode))
# a chunk gone without its trigger: FTS5 is sound in itself, but holds a row for nothing
kdata2 = tempdir("ragd-check2-")
run(["ingest", corpus], data=kdata2)
db = sqlite3.connect(os.path.join(kdata2, "ragd.db"))
db.execute("DROP TRIGGER chunks_fts_delete")
db.execute("DELETE FROM chunks WHERE id = (SELECT max(id) FROM chunks)")
db.commit()
db.close()
p = run(["check"], data=kdata2)
t.check(p.returncode == 1 and one_error_line(p.stderr)
        and "1 lexical index rows without a chunk" in p.stderr,
        "check names a lexical row left from a deleted chunk", p.stderr + str(p.returncode))
shutil.rmtree(kdata2, ignore_errors=True)
p = run(["check"], data=cdata)
t.check(p.returncode == 1 and one_error_line(p.stderr) and "damaged" in p.stderr,
        "check on a corrupt database: one line, exit 1", p.stderr)
shutil.rmtree(kdata, ignore_errors=True)

p = run(["search", "x"], data=os.path.join(cdata, "nowhere"))
t.check(p.returncode == 1 and one_error_line(p.stderr), "search without a store: clear error",
        p.stderr)
p = run(["search", "--collection", "nope", "vpn"], data=data)
t.check(p.returncode == 1 and "nope" in p.stderr, "unknown collection is an error", p.stderr)
for bad_threads in ("abc", "0", "-2", "4x"):
    p = run(["embed", "--threads", bad_threads, "hello"], data=data)
    t.check(p.returncode == 2 and one_error_line(p.stderr) and "--threads takes a whole number"
            in p.stderr, f"embed --threads {bad_threads}: usage error, exit 2", p.stderr)
p = run(["frobnicate"], data=data)
t.check(p.returncode == 2, "unknown command exits 2")

for d in (data, work, bad, cdata):
    shutil.rmtree(d, ignore_errors=True)
t.done()
