"""Write failures while ingesting and while saving the vector index, made
real with RLIMIT_FSIZE (the kernel then fails writes past the limit with
EFBIG, as a full quota or disk does): ragd reports one clear error, the
previous vector file survives byte for byte (no temp file left), every
document in the store is whole, and a rerun without the limit finishes
with one vector per chunk.

  vectors  the limit sits just above the vector file: the store commits the
           new documents, saving the grown vector file fails.
  store    the limit is small: SQLite's own writes fail part-way through."""
import hashlib
import os
import random
import resource
import shutil
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Checks, corpus_and_queries, model_or_skip, run, run_json,  # noqa: E402
                     sanitized, source_root, tempdir)

MODEL = model_or_skip()
t = Checks("write_faults")
corpus, _ = corpus_and_queries()
base = tempdir("ragd-wf-base-")
run(["model", "import", MODEL], data=base)
p = run(["ingest", corpus], data=base)
t.check(p.returncode == 0, "the base ingest", p.stderr)
p, st = run_json(["stats"], data=base)
base_coll = st["collections"][0]
rgv = os.path.join(base, "vectors", "1.rgv")
t.check(os.path.isfile(rgv), "the base has a vector file")

rng = random.Random(5)
words = open(os.path.join(source_root(), "corpus", "it", "security-handbook.md"),
             encoding="utf-8").read().split()


def new_docs(n, n_words):
    d = tempdir("ragd-wf-docs-")
    for i in range(n):
        with open(os.path.join(d, f"new{i:02d}.md"), "w") as f:
            f.write(f"# Quarry bulletin {i}\n\n" +
                    " ".join(rng.choice(words) for _ in range(n_words)) + "\n")
    return d


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def limited(limit):
    def set_limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return set_limit


def whole(data):
    """Every document has its chunks 0..n-1 and the FTS index holds the chunks."""
    con = sqlite3.connect(os.path.join(data, "ragd.db"))
    chunks = con.execute("SELECT count(*) FROM chunks").fetchone()[0]
    # FTS5's per-row shadow table (the table itself needs ragd's tokenizer)
    fts = con.execute("SELECT count(*) FROM chunks_fts_docsize WHERE id IN "
                      "(SELECT id FROM chunks)").fetchone()[0]
    fts -= con.execute("SELECT count(*) FROM chunks_fts_docsize WHERE id NOT IN "
                       "(SELECT id FROM chunks)").fetchone()[0]
    bad = con.execute("SELECT count(*) FROM documents d WHERE (SELECT count(*) FROM chunks c "
                      "WHERE c.document_id = d.id) != (SELECT coalesce(max(ordinal) + 1, 0) "
                      "FROM chunks c WHERE c.document_id = d.id) OR NOT EXISTS (SELECT 1 FROM "
                      "chunks c WHERE c.document_id = d.id)").fetchone()[0]
    con.close()
    return chunks == fts and bad == 0, f"chunks {chunks}, fts {fts}, partial documents {bad}"


def case(name, limit, docs):
    data = tempdir(f"ragd-wf-{name}-")
    shutil.rmtree(data)
    shutil.copytree(base, data, symlinks=True)
    before = sha(os.path.join(data, "vectors", "1.rgv"))
    p = run(["ingest", docs], data=data, preexec=limited(limit))
    err = [line for line in p.stderr.splitlines() if line.strip()]
    print(f"{name} (limit {limit} bytes): exit {p.returncode}, {len(err)} error lines, last: "
          f"{err[-1] if err else ''}")
    t.check(p.returncode != 0, f"{name}: the failed write fails the run", p.stderr[-1500:])
    t.check(any("File too large" in line or "disk" in line.lower() or "full" in line
                for line in err), f"{name}: the error names the write failure", p.stderr[-1500:])
    # at most a line per file of the batch in flight (16) and the closing one
    t.check(len(err) <= 17, f"{name}: a short report, not a flood", f"{len(err)} lines")
    vec = os.path.join(data, "vectors", "1.rgv")
    t.check(sha(vec) == before, f"{name}: the previous vector file is intact")
    t.check(sorted(os.listdir(os.path.join(data, "vectors"))) == ["1.rgv"],
            f"{name}: no temp file left beside it", str(os.listdir(os.path.join(data, "vectors"))))
    ok, detail = whole(data)
    t.check(ok, f"{name}: every stored document is whole", detail)
    p, st = run_json(["stats"], data=data)
    c = st["collections"][0] if st else {}
    t.check(p.returncode == 0 and c.get("vectors") == c.get("chunks"),
            f"{name}: opened again, vectors equal chunks", p.stderr + str(st))
    # the rerun without the limit finishes the job
    p = run(["ingest", docs], data=data)
    t.check(p.returncode == 0, f"{name}: the rerun completes", p.stderr[-1500:])
    p, st = run_json(["stats"], data=data)
    c = st["collections"][0] if st else {}
    n_new = len(os.listdir(docs))
    t.check(c.get("documents") == base_coll["documents"] + n_new and
            c.get("vectors") == c.get("chunks") > base_coll["chunks"],
            f"{name}: after the rerun every document is in, one vector per chunk", str(st))
    p, r = run_json(["search", "--mode", "dense", "-k", "3", "Quarry bulletin"], data=data)
    t.check(r is not None and any("/new" in h["source"] for h in r["results"]),
            f"{name}: the new documents are found by the dense leg", p.stderr)
    shutil.rmtree(data, ignore_errors=True)


# The vector file grows by 1.5 KB per chunk; the store's journal stays far
# below the limit for three short documents.
small = new_docs(3, 300)
case("vectors", os.path.getsize(rgv) + 4096, small)
# SQLite's journal passes 96 KB part-way through forty documents.
many = new_docs(12 if sanitized() else 40, 600)
case("store", 96 * 1024, many)

for d in (base, small, many) + ((corpus,) if sanitized() else ()):
    shutil.rmtree(d, ignore_errors=True)
t.done()
