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

# without --pii-mask nothing is masked (masking is opt-in)
plain = tempdir()
p, s = run_json(["ingest", "--lexical-only", folder], data=plain)
t.check(p.returncode == 0 and s and "pii" not in s, "no pii summary without --pii-mask", str(s))
p, r = run_json(["search", "-k", "3", "customer refund card"], data=plain)
texts = " ".join(h["text"] for h in r["results"]) if r else ""
t.check(EMAIL in texts, "without --pii-mask the text is kept", texts)

t.done()
