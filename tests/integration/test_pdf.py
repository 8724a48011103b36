"""PDFs end to end with the real binary: `ragd ingest` of the fixture PDFs
(tests/ingest/data/pdf) in a folder that also holds a sparse 2 GB file (that
one file fails on the size limit, before a byte is read; the rest is
ingested), the "pages" metadata, the page of search hits, PDFs found by
content under other names, and `ragd ask --json` (extractive) citing the
page its chunk starts on."""
import glob
import json
import os
import shutil
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checks, model_or_skip, run, run_json, source_root, tempdir  # noqa: E402

FILE_LIMIT = 64 << 20  # RG_LOADER_MAX_FILE_BYTES
HUGE = 2 << 30

t = Checks("pdf")
fixtures = os.path.join(source_root(), "tests", "ingest", "data", "pdf")
docs = tempdir("ragd-pdf-docs-")
shutil.copy(os.path.join(fixtures, "english.pdf"), os.path.join(docs, "report.pdf"))
shutil.copy(os.path.join(fixtures, "cjk.pdf"), os.path.join(docs, "cjk.pdf"))
with open(os.path.join(docs, "notes.md"), "w") as f:
    f.write("# Notes\n\nOcelots sleep through the afternoon.\n")
huge = os.path.join(docs, "huge.txt")
with open(huge, "wb") as f:
    f.truncate(HUGE)  # sparse: no disk used

# --- lexical only (no model): the size limit, metadata, search hits -----------------------
data = tempdir()
# small chunks, so that chunks start on both pages of report.pdf
CHUNKS = ["--chunk-tokens", "16", "--overlap", "0"]
p, s = run_json(["ingest", "--lexical-only"] + CHUNKS + [docs], data=data)
t.check(p.returncode == 1 and s and s["added"] == 3 and s["failed"] == 1,
        "the 2 GB file fails, the other three are ingested", p.stdout + p.stderr)
errs = [l for l in p.stderr.splitlines() if l.strip()]
t.check(len(errs) == 1 and "huge.txt" in errs[0] and str(HUGE) in errs[0]
        and str(FILE_LIMIT) in errs[0], "one error line names the file, its size and the limit",
        p.stderr)

db = sqlite3.connect(glob.glob(os.path.join(data, "*.db"))[0])
rows = {os.path.basename(src): (mt, json.loads(m), text)
        for src, mt, m, text in db.execute("SELECT source_uri, media_type, metadata, text "
                                           "FROM documents")}
db.close()
mt, meta, text = rows.get("report.pdf", ("", {}, ""))
t.check(mt == "application/pdf", "media type application/pdf", mt)
pages = meta.get("pages")
t.check(isinstance(pages, list) and len(pages) == 2 and pages[0] == 0
        and text.encode()[pages[1]:].startswith(b"Page two starts here"),
        "metadata pages: byte offsets where pages 1 and 2 start", str(meta))
t.check(rows.get("cjk.pdf", ("", {}, ""))[1].get("pages") == [0], "one page, one offset",
        str(rows.get("cjk.pdf")))
t.check("pages" not in rows.get("notes.md", ("", {}, ""))[1], "no pages for Markdown",
        str(rows.get("notes.md")))


def top_hit(query):
    p, r = run_json(["search", "--mode", "lexical", "-k", "3", query], data=data)
    hits = (r or {}).get("results", [])
    return hits[0] if hits else {}


h = top_hit("crème brûlée")
t.check(h.get("source", "").endswith("report.pdf") and h.get("page") == 2,
        "a page-2 search hit says page 2", str(h))
h = top_hit("quick brown fox")
t.check(h.get("page") == 1, "a page-1 search hit says page 1", str(h))
h = top_hit("简体中文")
t.check(h.get("source", "").endswith("cjk.pdf") and h.get("page") == 1, "CJK PDF hit", str(h))
h = top_hit("ocelots afternoon")
t.check(h.get("source", "").endswith("notes.md") and "page" not in h,
        "hits of documents without pages carry no page", str(h))

# --- found by content: no extension, an unknown one; a .txt name is refused -----------------
named = tempdir("ragd-pdf-named-")
for name in ("scan", "scan.bin", "scan.txt"):
    shutil.copy(os.path.join(fixtures, "english.pdf"), os.path.join(named, name))
p, s = run_json(["ingest", "--lexical-only", "--collection", "named",
                 os.path.join(named, "scan"), os.path.join(named, "scan.bin"),
                 os.path.join(named, "scan.txt")], data=data)
t.check(s and s["added"] == 2 and s["failed"] == 1, "PDF without extension and as .bin load",
        p.stdout + p.stderr)
t.check("scan.txt" in p.stderr and "application/pdf" in p.stderr and "rename" in p.stderr,
        "a PDF named .txt is refused with what it is", p.stderr)

# --- ask with the encoder: citations carry the page ----------------------------------------
MODEL = model_or_skip()
data = tempdir()
p = run(["model", "import", MODEL], data=data)
t.check(p.returncode == 0, "model import", p.stderr)
p, s = run_json(["ingest"] + CHUNKS + [os.path.join(docs, "report.pdf")], data=data)
t.check(p.returncode == 0 and s and s["added"] == 1, "ingest the PDF with the model", p.stderr)


def page_of(offset):
    return sum(1 for start in pages if start <= offset)


for question, want in (("Which sign does page two mention with the quotes?", 2),
                       ("What does the quick brown fox jump over?", 1)):
    p, a = run_json(["ask", question], data=data)
    if not t.check(p.returncode == 0 and a and a["citations"], "ask answers: " + question,
                   p.stdout + p.stderr):
        continue
    cites = a["citations"]
    raw = text.encode()
    t.check(all(raw[c["passage_start"]:c["passage_end"]].decode() == c["passage"]
                and c["byte_start"] <= c["passage_start"] < c["passage_end"] <= c["byte_end"]
                for c in cites),
            "every citation's passage span holds its passage, inside its chunk", json.dumps(cites))
    t.check(all(c.get("page") == page_of(c["passage_start"]) for c in cites),
            "every citation's page is the page its passage starts on", json.dumps(cites))
    t.check(cites[0].get("page") == want, f"the first citation is on page {want}",
            json.dumps(cites[0], ensure_ascii=False))
p = run(["ask", "Which sign does page two mention with the quotes?"], data=data)
t.check(", page 2" in p.stdout, "the text answer names the page of its source", p.stdout)

# one chunk for both pages (default chunk size): the citation still names
# the page of the passage it quotes, not the page the chunk starts on
data1 = tempdir()
run(["model", "import", MODEL], data=data1)
p, s = run_json(["ingest", os.path.join(docs, "report.pdf")], data=data1)
t.check(p.returncode == 0 and s and s["chunks"] == 1, "the PDF in one chunk", p.stdout + p.stderr)
p, a = run_json(["ask", "Which sign does page two mention with the quotes?"], data=data1)
c = a["citations"][0] if a and a["citations"] else {}
t.check(c.get("page") == 2 and page_of(c.get("byte_start", -1)) == 1
        and page_of(c.get("passage_start", -1)) == 2,
        "a chunk starting on page 1 cites its page-2 passage as page 2", json.dumps(c))

# --- hostile files in one folder: each gives one clear error line, the run goes on ---------
bad = tempdir("ragd-bad-files-")
docx_fixtures = os.path.join(source_root(), "tests", "ingest", "data", "docx")
shutil.copy(os.path.join(fixtures, "encrypted-user.pdf"), os.path.join(bad, "locked.pdf"))
shutil.copy(os.path.join(docx_fixtures, "encrypted.docx"), os.path.join(bad, "locked.docx"))
shutil.copy(os.path.join(docx_fixtures, "truncated.docx"), os.path.join(bad, "cut.docx"))
shutil.copy(os.path.join(docx_fixtures, "bomb.docx"), os.path.join(bad, "bomb.docx"))
with open(os.path.join(bad, "corrupt.pdf"), "wb") as f:
    f.write(b"%PDF-1.7\n" + bytes(range(256)) * 8)
with open(os.path.join(bad, "half.pdf"), "wb") as f:
    f.write(open(os.path.join(fixtures, "english.pdf"), "rb").read()[:700])
with open(os.path.join(bad, "huge.md"), "wb") as f:
    f.truncate(HUGE)
with open(os.path.join(bad, "fine.md"), "w") as f:
    f.write("# Fine\n\nQuokkas smile at tourists on Rottnest Island.\n")
shutil.copy(os.path.join(fixtures, "english.pdf"), os.path.join(bad, "good.pdf"))
bad_data = tempdir()
p, s = run_json(["ingest", "--lexical-only", bad], data=bad_data)
errs = [l for l in p.stderr.splitlines() if l.strip()]
failed_names = sorted(os.path.basename(l.split(":")[2].strip()) for l in errs
                      if l.startswith("ragd: error: "))
t.check(p.returncode == 1 and s and s["added"] >= 2 and s["failed"] == len(errs),
        "hostile files fail one by one and the run goes on", p.stdout + p.stderr)
t.check(all(l.startswith("ragd: error: " + bad) for l in errs) and
        {"locked.pdf", "locked.docx", "cut.docx", "bomb.docx", "corrupt.pdf", "huge.md"}
        <= set(failed_names), "one error line per bad file, naming it", p.stderr)
t.check(any("encrypted" in l and "locked.pdf" in l for l in errs) and
        any("encrypted or not a Word document" in l and "locked.docx" in l for l in errs),
        "encrypted PDF and DOCX are named as encrypted", p.stderr)
p, r = run_json(["search", "--mode", "lexical", "quokkas rottnest"], data=bad_data)
t.check(r and r["results"] and r["results"][0]["source"].endswith("fine.md"),
        "the good files were ingested", str(r)[:300])

t.done()
