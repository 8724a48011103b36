"""ragd ingest --pii-mask: personal data in a folder is replaced by typed
placeholders before indexing. Search finds the placeholders, never the
values, the store's files hold none of them, and each document records its
counts under "pii" in its metadata."""
import glob
import json
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checks, run, run_json, tempdir  # noqa: E402

t = Checks("pii")
folder = tempdir("ragd-pii-docs-")
data = tempdir()

EMAIL, CARD, TW_ID = "alice.chen@example.com", "4111 1111 1111 1111", "A123456789"
PHONE_TW, CN_ID = "0912-345-678", "11010519491231002X"
SECRETS = [EMAIL, CARD, TW_ID, PHONE_TW, CN_ID, "4111111111111111", "alice.chen"]
with open(os.path.join(folder, "customer.md"), "w", encoding="utf-8") as f:
    f.write("# Customer refund\n\nThe customer wrote from " + EMAIL + " about the refund.\n\n"
            "Card " + CARD + " was charged twice; the refund goes back to it.\n")
with open(os.path.join(folder, "kehu.txt"), "w", encoding="utf-8") as f:
    f.write("客戶退款紀錄\n\n客戶身分證" + TW_ID + "，電話" + PHONE_TW + "請回撥。\n\n"
            "居民身份证" + CN_ID + "已核对。\n")
with open(os.path.join(folder, "clean.md"), "w", encoding="utf-8") as f:
    f.write("# Release notes\n\nVersion 2024.23.1 shipped on 2024-05-15.\n")

p, s = run_json(["ingest", "--pii-mask", "--lexical-only", folder], data=data)
t.check(p.returncode == 0 and s and s["added"] == 3, "ingest --pii-mask adds 3 documents",
        p.stdout + p.stderr)
t.check(s and s.get("pii") == {"email": 1, "phone": 1, "card": 1, "tw_id": 1, "cn_id": 1},
        "summary counts per type", str(s))

for q in ("alice.chen@example.com", "alice chen", "4111 1111 1111 1111", "4111111111111111",
          "A123456789", "11010519491231002X"):
    p, r = run_json(["search", "-k", "10", q], data=data)
    texts = [h["text"] for h in r["results"]] if r else []
    t.check(p.returncode == 0 and not any(x in h for h in texts for x in SECRETS),
            f"search {q!r} returns nothing containing the masked values", str(texts))

p, r = run_json(["search", "-k", "3", "customer refund card"], data=data)
texts = " ".join(h["text"] for h in r["results"]) if r else ""
t.check("[EMAIL]" in texts and "[CARD]" in texts, "placeholders are indexed", texts)
p, r = run_json(["search", "-k", "3", "客戶退款"], data=data)
texts = " ".join(h["text"] for h in r["results"]) if r else ""
t.check("[TW_ID]" in texts and "[PHONE]" in texts and "[CN_ID]" in texts,
        "placeholders next to Chinese text", texts)

# nothing of the values reached the store's files
raw = b"".join(open(f, "rb").read() for f in glob.glob(os.path.join(data, "*"))
               if os.path.isfile(f))
t.check(not any(x.encode() in raw for x in SECRETS), "no masked value in the data directory")

db = sqlite3.connect(glob.glob(os.path.join(data, "*.db"))[0])
meta = {os.path.basename(src): json.loads(m)
        for src, m in db.execute("SELECT source_uri, metadata FROM documents")}
t.check(meta.get("customer.md", {}).get("pii") == {"email": 1, "card": 1},
        "customer.md metadata has its counts", str(meta))
t.check(meta.get("kehu.txt", {}).get("pii") == {"phone": 1, "tw_id": 1, "cn_id": 1},
        "kehu.txt metadata has its counts", str(meta))
t.check(meta.get("clean.md", {}).get("pii") == {}, "a clean document records no matches",
        str(meta))
db.close()

# Formats whose bytes hide the text: a DOCX (deflated XML), a PDF (a
# FlateDecode content stream) and an e-mail with a base64 body. Masking works
# on the loaded text, so none of the values gets through.
import base64  # noqa: E402
import zipfile  # noqa: E402
import zlib  # noqa: E402

packed = tempdir("ragd-pii-packed-")
DOCX_MAIL, PDF_MAIL, EML_MAIL = ("docx.person@example.com", "pdf.person@example.com",
                                 "eml.person@example.com")
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
with zipfile.ZipFile(os.path.join(packed, "letter.docx"), "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("[Content_Types].xml",
               '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
               'content-types"><Override PartName="/word/document.xml" ContentType="application/'
               'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
    z.writestr("word/document.xml",
               f'<?xml version="1.0"?><w:document xmlns:w="{W}"><w:body><w:p><w:r><w:t>'
               f'Quarterly letter: write to {DOCX_MAIL} about the invoice.</w:t></w:r></w:p>'
               '</w:body></w:document>')


def tiny_pdf(text):
    content = zlib.compress(f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode())
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content +
            b"\nendstream"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


with open(os.path.join(packed, "scan.pdf"), "wb") as f:
    f.write(tiny_pdf(f"Contact {PDF_MAIL} for the audit report."))
body = base64.encodebytes(f"Hello, please reply to {EML_MAIL} about the shipment.\n".encode())
with open(os.path.join(packed, "note.eml"), "wb") as f:
    f.write(b"From: Sender <sender@example.org>\r\nTo: Team <team@example.org>\r\n"
            b"Subject: Shipment\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + body)
packed_data = tempdir()
p, s = run_json(["ingest", "--pii-mask", "--lexical-only", packed], data=packed_data)
t.check(p.returncode == 0 and s and s["added"] == 3 and s["failed"] == 0,
        "DOCX, PDF and e-mail ingested with --pii-mask", p.stdout + p.stderr)
t.check(s and s.get("pii", {}).get("email", 0) >= 3, "their addresses are counted", str(s))
db = sqlite3.connect(glob.glob(os.path.join(packed_data, "*.db"))[0])
stored = " ".join(t_ + " " + x for t_, x in db.execute("SELECT title, text FROM documents"))
db.close()
t.check(stored.count("[EMAIL]") >= 3 and not any(m in stored for m in (DOCX_MAIL, PDF_MAIL,
                                                                        EML_MAIL)),
        "no address inside a DOCX, a compressed PDF stream or a base64 body is stored", stored)
for q, what in (("invoice quarterly letter", "DOCX"), ("audit report", "PDF"),
                ("shipment reply", "e-mail")):
    p, r = run_json(["search", "--mode", "lexical", "-k", "3", q], data=packed_data)
    texts = " ".join(h["text"] + " " + h.get("title", "") for h in (r or {}).get("results", []))
    t.check(r and r["results"] and "[EMAIL]" in texts and "person@example.com" not in texts,
            f"the {what} is found, masked", texts)
raw = b"".join(open(f, "rb").read() for f in glob.glob(os.path.join(packed_data, "*"))
               if os.path.isfile(f))
t.check(not any(m.encode() in raw for m in (DOCX_MAIL, PDF_MAIL, EML_MAIL)),
        "no address in the data directory's files")

# without --pii-mask nothing is masked (masking is opt-in)
plain = tempdir()
p, s = run_json(["ingest", "--lexical-only", folder], data=plain)
t.check(p.returncode == 0 and s and "pii" not in s, "no pii summary without --pii-mask", str(s))
p, r = run_json(["search", "-k", "3", "customer refund card"], data=plain)
texts = " ".join(h["text"] for h in r["results"]) if r else ""
t.check(EMAIL in texts, "without --pii-mask the text is kept", texts)

t.done()
