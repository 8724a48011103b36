"""ragd ingest over a folder with one file of each structured format (DOCX,
CSV, TSV, JSON, JSON Lines, e-mail): every file is added, and a word that
only one of them holds finds that file through `ragd search`. Lexical only,
so no model is needed."""
import io
import os
import sys
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checks, run_json, tempdir  # noqa: E402

t = Checks("loaders")
folder = tempdir("ragd-loaders-docs-")
data = tempdir()

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def docx(body_xml):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"/>')
        z.writestr("word/document.xml",
                   f'<?xml version="1.0"?><w:document xmlns:w="{W}"><w:body>{body_xml}'
                   "</w:body></w:document>")
    return buf.getvalue()


files = {
    "report.docx": docx('<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Field report'
                        "</w:t></w:r></w:p><w:p><w:r><w:t>The marmosetdocx colony grew."
                        "</w:t></w:r></w:p><w:tbl><w:tr><w:tc><w:p><w:r><w:t>猴子</w:t></w:r>"
                        "</w:p></w:tc></w:tr></w:tbl>"),
    "animals.csv": "name,habitat\nokapicsv,\"Ituri forest, Congo\"\n".encode(),
    "plants.tsv": "name\tnote\nbaobabtsv\tdrought tolerant\n".encode(),
    "catalog.json": '[{"title": "Narwhal", "body": "The narwhaljson has a tusk."}]'.encode(),
    "events.jsonl": '{"text": "A pangolinjsonl was seen."}\n{"text": "second"}\n'.encode(),
    "note.eml": ("From: ranger@example.com\nSubject: =?UTF-8?B?6bOl6aGe?= sighting\n"
                 "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: "
                 "quoted-printable\n\nA quetzalemail flew =\npast the station.\n").encode(),
}
for name, content in files.items():
    with open(os.path.join(folder, name), "wb") as f:
        f.write(content)

p, s = run_json(["ingest", "--lexical-only", folder], data=data)
t.check(p.returncode == 0, "ingest exits 0", p.stderr)
t.check(s is not None and s["added"] == len(files) and s["failed"] == 0
        and s["skipped"] == 0, f"all {len(files)} files are added", f"{s} {p.stderr}")

for word, name in [("marmosetdocx", "report.docx"), ("猴子", "report.docx"),
                   ("okapicsv", "animals.csv"), ("Ituri", "animals.csv"),
                   ("baobabtsv", "plants.tsv"), ("narwhaljson", "catalog.json"),
                   ("pangolinjsonl", "events.jsonl"), ("quetzalemail", "note.eml"),
                   ("鳥類", "note.eml")]:
    p, r = run_json(["search", "-k", "3", word], data=data)
    sources = [h["source"] for h in r["results"]] if p.returncode == 0 and r else []
    t.check(sources[:1] and sources[0].endswith("/" + name), f"{word!r} finds {name}",
            f"got {sources} {p.stderr}")

# titles: the DOCX heading, the JSON record's title, the decoded Subject
p, r = run_json(["search", "-k", "1", "quetzalemail"], data=data)
hit = r["results"][0] if p.returncode == 0 and r and r["results"] else {}
t.check(hit.get("title") == "鳥類 sighting", "the e-mail's title is its decoded Subject",
        str(hit.get("title")))
p, r = run_json(["search", "-k", "1", "narwhaljson"], data=data)
hit = r["results"][0] if p.returncode == 0 and r and r["results"] else {}
t.check(hit.get("title") == "Narwhal", "a one-record JSON file takes the record's title",
        str(hit.get("title")))
# the CSV row names its columns in the indexed text
p, r = run_json(["search", "-k", "1", "okapicsv"], data=data)
hit = r["results"][0] if p.returncode == 0 and r and r["results"] else {}
t.check("name: okapicsv | habitat: Ituri forest, Congo" in hit.get("text", hit.get("snippet", "")),
        "the CSV row is indexed as 'name: value | ...'", str(hit))

t.done()
