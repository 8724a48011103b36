"""`ragd serve` with API keys and document access lists, end to end.

The documents API adds, lists, fetches, replaces and deletes documents
(JSON and raw files). The auth matrix: no key, an unknown key, a revoked
key, the wrong scope, another collection. Then a property test: documents
with random access lists (seeded), and for several readers every route
that can return document data — search in all three modes, answers, chat
completions streamed and not, document listings and fetches, collection
counts — checked against the access lists: a reader never receives a
chunk, title, snippet, count or citation of a document it may not read,
and does find the documents it may."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checks, model_or_skip, one_error_line, run, sanitized, tempdir, timeout_scale  # noqa: E402
from serve_util import Server  # noqa: E402

MODEL = model_or_skip()

SEED = int(os.environ.get("RAGD_ACL_SEED", "20261128"))
N_DOCS = 12 if sanitized() else 30
USERS = ["alice", "bob", "carol"]
GROUPS = ["eng", "hr", "sales"]
TOPICS = ["badge access to the server room", "parking permits for visitors",
          "laptop encryption and screen locks", "travel expense reimbursement"]

t = Checks("serve_auth")
data = tempdir()
p = run(["model", "import", MODEL], data=data)
t.check(p.returncode == 0, "model import", p.stderr)


def key(name, *args):
    p = run(["key", "create", name, *args], data=data)
    t.check(p.returncode == 0 and p.stdout.strip().startswith("rgk_"), f"key create {name}",
            p.stderr)
    return p.stdout.strip()


ADMIN = key("admin", "--scope", "admin")
WRITER = key("writer", "--scope", "read,write")
READERS = {
    "alice": key("alice", "--scope", "read", "--group", "eng"),
    "bob": key("bob", "--scope", "read", "--group", "hr", "--group", "sales"),
    "carol": key("carol", "--scope", "read"),
    "projects-only": key("projects-only", "--scope", "read", "--collection", "projects",
                         "--user", "alice", "--group", "eng"),
}
REVOKED = key("old", "--scope", "read")
p = run(["key", "revoke", "old"], data=data)
t.check(p.returncode == 0, "key revoke", p.stderr)
p = run(["--json", "key", "list"], data=data)
listed = json.loads(p.stdout or "[]")
t.check(len(listed) == 7 and all("hash" not in k and k["prefix"] and len(k["prefix"]) == 12
                                 for k in listed) and
        [k["revoked"] for k in listed if k["name"] == "old"] == [True],
        "key list shows prefixes, scopes and revocation, never a key or hash", p.stdout[:300])
t.check(not any(k in p.stdout for k in [ADMIN, WRITER, *READERS.values()]),
        "key list never prints a key")
p = run(["key", "create", "alice", "--scope", "read"], data=data)
t.check(p.returncode == 1 and "exists" in p.stderr, "a key name is unique", p.stderr)
p = run(["key", "create", "x", "--scope", "root"], data=data)
t.check(p.returncode == 2, "an unknown scope is a usage error", p.stderr)

# a folder the server may sync, with a symlink that leads out of it
sync_root = tempdir("ragd-sync-")
outside = tempdir("ragd-outside-")
os.makedirs(os.path.join(sync_root, "docs"))
with open(os.path.join(sync_root, "docs", "lighthouse.md"), "w") as f:
    f.write("# Lighthouse\n\nThe lighthouse keeper Brunhildexq logs the fog every night.\n")
with open(os.path.join(outside, "secret.md"), "w") as f:
    f.write("# Secret\n\nThe vault code word is Zanzibarqx.\n")
os.symlink(os.path.join(outside, "secret.md"), os.path.join(sync_root, "docs", "leak.md"))
os.symlink(outside, os.path.join(sync_root, "docs", "outside-dir"))
srv = Server(data, "--sync-root", sync_root, no_auth=False)


def call(method, path, body=None, key=None, raw=None, ctype=None):
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120 * timeout_scale())
    headers = {}
    if key:
        headers["Authorization"] = "Bearer " + key
    if ctype:
        headers["Content-Type"] = ctype
    payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
    c.request(method, path, body=payload, headers=headers)
    r = c.getresponse()
    text = r.read().decode("utf-8", "replace")
    c.close()
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    return r.status, dict(r.getheaders()), obj, text


# ---- the documents API ----
st, _, o, _ = call("POST", "/v1/collections/policies/documents", key=WRITER,
                   body={"text": "Visitors park on level two. Permits come from reception.",
                         "title": "Visitor parking", "source": "parking.txt",
                         "metadata": {"team": "facilities"}})
t.check(st == 201 and o["chunks"] >= 1 and not o["replaced"], "upload a JSON document", str(o))
first_id = o["id"] if o else 0
st, _, o, _ = call("POST", "/v1/collections/policies/documents", key=WRITER,
                   body={"text": "Visitors park on level three now.", "title": "Visitor parking",
                         "source": "parking.txt"})
t.check(st == 200 and o["replaced"], "uploading the same source replaces it", str(o))
first_id = o["id"] if o else 0
st, _, o, _ = call("POST", "/v1/collections/policies/documents?source=guide.md&title=Guide",
                   key=WRITER, raw="# Guide\n\nThe kettle is in the second-floor kitchen.\n",
                   ctype="text/markdown")
t.check(st == 201 and o["title"] == "Guide", "upload a raw Markdown file", str(o))
guide_id = o["id"] if o else 0
st, _, o, _ = call("GET", f"/v1/collections/policies/documents/{guide_id}", key=WRITER)
t.check(st == 200 and "kettle" in o["text"] and o["source"] == "guide.md",
        "fetch one document with its text", str(o)[:200])
st, _, o, _ = call("POST", "/v1/search", key=WRITER,
                   body={"query": "where is the kettle", "collection": "policies"})
t.check(st == 200 and o["results"] and o["results"][0]["document_id"] == guide_id,
        "an uploaded document is searchable at once", str(o)[:300])
st, _, o, _ = call("DELETE", f"/v1/collections/policies/documents/{guide_id}", key=WRITER)
t.check(st == 200 and o["deleted"], "delete a document", str(o))
st, _, o, _ = call("GET", f"/v1/collections/policies/documents/{guide_id}", key=WRITER)
t.check(st == 404, "a deleted document is gone", str(o))
st, _, o, _ = call("POST", "/v1/search", key=WRITER,
                   body={"query": "where is the kettle", "collection": "policies"})
t.check(st == 200 and all(r["document_id"] != guide_id for r in o["results"]),
        "a deleted document leaves search (both legs)", str(o)[:300])
for what, body, code in [
        ("no text", {"title": "x"}, 400),
        ("bad acl", {"text": "x", "acl": {"users": "alice"}}, 400),
        ("unknown acl field", {"text": "x", "acl": {"roles": ["a"]}}, 400),
        ("bad format", {"text": "x", "format": "pdf"}, 400),
        ("metadata not an object", {"text": "x", "metadata": [1]}, 400)]:
    st, _, o, _ = call("POST", "/v1/collections/policies/documents", key=WRITER, body=body)
    t.check(st == code and o and "error" in o, f"upload with {what} is {code}", str((st, o)))
st, _, o, _ = call("POST", "/v1/collections/bad%20name/documents", key=WRITER,
                   body={"text": "x"})
t.check(st == 400, "a bad collection name is 400", str((st, o)))
st, _, o, _ = call("POST", "/v1/collections/policies/documents", key=WRITER, raw=b"\x00\x01bin",
                   ctype="application/octet-stream")
t.check(st == 400, "a raw upload without ?source is 400", str((st, o)))

# ---- server-side sync, confined to the sync roots ----
st, _, o, _ = call("POST", "/v1/collections/synced/sync", key=WRITER, body={"path": "docs"})
t.check(st == 200 and o["added"] == 1 and o["failed"] == 0, "sync a folder under the root",
        str((st, o)))
st, _, o, _ = call("POST", "/v1/search", key=WRITER,
                   body={"query": "Who logs the fog?", "collection": "synced"})
t.check(st == 200 and o["results"] and "Brunhildexq" in o["results"][0]["text"],
        "a synced document is searchable", str(o)[:200])
st, _, o, text = call("POST", "/v1/search", key=WRITER,
                      body={"query": "vault code word Zanzibarqx", "collection": "synced",
                            "mode": "lexical"})
t.check(st == 200 and "Zanzibarqx" not in json.dumps(o["results"]),
        "symlinks leading out of the root are not followed", text[:300])
st, _, o, _ = call("POST", "/v1/collections/synced/sync", key=WRITER, body={"path": "docs"})
t.check(st == 200 and o["unchanged"] == 1 and o["added"] == 0, "a second sync changes nothing",
        str(o))
for bad in ("../" + os.path.basename(outside), outside, "/etc", "docs/outside-dir"):
    st, _, o, _ = call("POST", "/v1/collections/synced/sync", key=WRITER, body={"path": bad})
    t.check(st == 403, f"sync of {bad} outside the roots is 403", str((st, o)))
st, _, o, _ = call("POST", "/v1/collections/synced/sync", key=READERS["alice"],
                   body={"path": "docs"})
t.check(st == 403, "sync needs the write scope", str((st, o)))

# ---- the auth matrix ----
st, h, o, _ = call("POST", "/v1/search", body={"query": "parking"})
t.check(st == 401 and o["error"]["code"] == "unauthorized" and "WWW-Authenticate" in h,
        "no key: 401 with WWW-Authenticate", str((st, o)))
st, _, o, _ = call("POST", "/v1/search", body={"query": "parking"}, key="rgk_" + "0" * 64)
t.check(st == 401, "an unknown key: 401", str((st, o)))
st, _, o, _ = call("POST", "/v1/search", body={"query": "parking"}, key="not-a-key")
t.check(st == 401, "a malformed key: 401", str((st, o)))
st, _, o, _ = call("POST", "/v1/search", body={"query": "parking"}, key=REVOKED)
t.check(st == 401, "a revoked key: 401", str((st, o)))
c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60 * timeout_scale())
c.request("POST", "/v1/search", body=json.dumps({"query": "parking"}),
          headers={"X-API-Key": WRITER})
r = c.getresponse()
r.read()
t.check(r.status == 200, "X-API-Key works as well as Bearer")
st, _, o, _ = call("POST", "/v1/collections/policies/documents", key=READERS["alice"],
                   body={"text": "x"})
t.check(st == 403 and o["error"]["code"] == "forbidden", "read scope cannot write: 403",
        str((st, o)))
st, _, o, _ = call("GET", "/metrics", key=READERS["alice"])
t.check(st == 403, "read scope cannot see /metrics: 403", str((st, o)))
st, _, _, text = call("GET", "/metrics", key=ADMIN)
t.check(st == 200 and "ragd_http_requests_total" in text, "admin sees /metrics")
st, _, o, _ = call("POST", "/v1/search", key=READERS["projects-only"],
                   body={"query": "parking", "collection": "policies"})
t.check(st == 403, "a key limited to projects cannot search policies: 403", str((st, o)))
st, _, o, _ = call("GET", "/v1/collections/policies/documents", key=READERS["projects-only"])
t.check(st == 403, "... nor list its documents", str((st, o)))
st, _, o, _ = call("POST", "/v1/chat/completions", key=READERS["projects-only"],
                   body={"model": "policies", "messages": [{"role": "user", "content": "parking?"}]})
t.check(st == 403, "... nor chat with it as the model", str((st, o)))
for path in ("/healthz", "/readyz", "/openapi.json"):
    st, _, _, _ = call("GET", path)
    t.check(st == 200, f"{path} needs no key")

# ---- random access lists ----
rng = random.Random(SEED)


def random_acl():
    if rng.random() < 0.7:
        return {"users": rng.sample(USERS, rng.randint(0, 2)),
                "groups": rng.sample(GROUPS, rng.randint(0, 2))}
    return None


docs = []  # (id, collection, title, token, acl or None)
for i in range(N_DOCS):
    coll = "projects" if i % 2 else "policies"
    token = f"zq{i:02d}xv"
    title = f"Record {i:02d} {token}"
    topic = TOPICS[i % len(TOPICS)]
    acl = random_acl()
    body = {"text": f"{title}. This record is about {topic}. The reference code is {token}. "
                    f"Ask the {topic.split()[0]} desk about {topic}.",
            "title": title, "source": f"rec-{i}.txt"}
    if acl is not None:
        body["acl"] = acl
    st, _, o, _ = call("POST", f"/v1/collections/{coll}/documents", key=WRITER, body=body)
    if t.check(st == 201, f"upload record {i}", str((st, o))):
        docs.append((o["id"], coll, title, token, acl))


def may_read(reader, acl):
    user, groups = {"alice": ("alice", {"eng"}), "bob": ("bob", {"hr", "sales"}),
                    "carol": ("carol", set()), "projects-only": ("alice", {"eng"})}[reader]
    if acl is None:
        return True
    return user in acl["users"] or bool(groups & set(acl["groups"]))


def allowed_colls(reader):
    return {"projects"} if reader == "projects-only" else {"policies", "projects", "synced"}


def check_readers(docs, phase, deleted=()):
    """Every reader against every route (deleted documents: denied to all)."""
    leaks, misses, bad_counts = [], [], []
    for reader, k in READERS.items():
        denied = [d for d in docs
                  if not may_read(reader, d[4]) or d[1] not in allowed_colls(reader)]
        allowed = [d for d in docs if d not in denied]
        denied += list(deleted)
        denied_strings = [d[2] for d in denied] + [d[3] for d in denied]
        bodies = []
        coll_arg = {"collection": "projects"} if reader == "projects-only" else {}
        for topic in TOPICS:
            for mode in ("lexical", "dense", "hybrid"):
                st, _, o, text = call("POST", "/v1/search", key=k,
                                      body={"query": topic, "k": 50, "mode": mode, **coll_arg})
                bodies.append(text)
                ids = {r["document_id"] for r in (o or {}).get("results", [])}
                leaks += [(reader, "search", mode, d[0]) for d in denied if d[0] in ids]
            st, _, o, text = call("POST", "/v1/answer", key=k,
                                  body={"question": f"Who handles {topic}?", **coll_arg})
            bodies.append(text)
            st, _, o, text = call("POST", "/v1/chat/completions", key=k, body={
                "model": "ragd", "messages": [{"role": "user", "content": f"Tell me about {topic}"}]})
            bodies.append(text)
            st, _, _, text = call("POST", "/v1/chat/completions", key=k, body={
                "model": "ragd", "stream": True,
                "messages": [{"role": "user", "content": f"Tell me about {topic}"}]})
            bodies.append(text)
        # every allowed document is found by its unique token (the filter is not over-eager)
        for d in allowed:
            st, _, o, text = call("POST", "/v1/search", key=k,
                                  body={"query": d[3], "k": 3, "mode": "lexical", **coll_arg})
            bodies.append(text)
            if not (o and o.get("results") and o["results"][0]["document_id"] == d[0]):
                misses.append((reader, d[0]))
        for d in denied:  # asking for a denied token by name finds nothing of it
            st, _, o, text = call("POST", "/v1/search", key=k,
                                  body={"query": d[3], "k": 5, **coll_arg})
            bodies.append(json.dumps((o or {}).get("results"), ensure_ascii=False))  # not the echo
            if st == 200 and any(r["document_id"] == d[0] for r in o["results"]):
                leaks.append((reader, "token search", d[0]))
            if d[1] in allowed_colls(reader):
                st, _, o, text = call("GET", f"/v1/collections/{d[1]}/documents/{d[0]}", key=k)
                bodies.append(text)
                if st != 404:
                    leaks.append((reader, "get", d[0], st))
        for coll in sorted(allowed_colls(reader)):
            st, _, o, text = call("GET", f"/v1/collections/{coll}/documents?limit=1000", key=k)
            bodies.append(text)
            listed = {x["id"] for x in (o or {}).get("documents", [])}
            expect = {d[0] for d in allowed if d[1] == coll}
            if coll == "policies":
                expect.add(first_id)  # the public parking document
            if coll == "synced":
                expect |= {x["id"] for x in (o or {}).get("documents", [])
                           if x["title"] == "Lighthouse"}
            if listed != expect:
                bad_counts.append((reader, "list", coll, sorted(listed ^ expect)))
        st, _, o, text = call("GET", "/v1/collections", key=k)
        bodies.append(text)
        for col in (o or {}).get("collections", []):
            # plus the public parking document and the synced lighthouse
            expect = sum(1 for d in allowed if d[1] == col["name"]) + \
                (col["name"] in ("policies", "synced"))
            if col["documents"] != expect or col["name"] not in allowed_colls(reader):
                bad_counts.append((reader, "count", col["name"], col["documents"], expect))
        leaks += [(reader, "string", s_) for s_ in denied_strings for b in bodies if s_ in b]
        print(f"{phase}: {reader}: {len(allowed)} readable, {len(denied)} denied, "
              f"{len(bodies)} responses checked", file=sys.stderr)

    t.check(not leaks, f"{phase}: no denied document reaches a reader (seed {SEED})",
            str(leaks[:10]))
    t.check(not misses, f"{phase}: every readable document is found by its token",
            str(misses[:10]))
    t.check(not bad_counts, f"{phase}: listings and counts hold exactly the readable documents",
            str(bad_counts[:10]))



check_readers(docs, "uploaded")
# The searcher follows writes in place (new chunks into a delta, the
# collection and access-list maps extended, deleted chunks masked): replace
# a third of the records with new access lists (the last one too, whose
# document id is then reused) and delete a tenth, searching between
# writes so each refresh sees a few, then check every reader again.
changed = rng.sample(range(len(docs)), len(docs) // 3) + [len(docs) - 1]
for n, i in enumerate(dict.fromkeys(changed)):
    did, coll, title, token, _ = docs[i]
    acl = random_acl()
    body = {"text": f"{title}. This record is about {TOPICS[i % len(TOPICS)]}. The reference "
                    f"code is {token}. Revised.", "title": title, "source": f"rec-{i}.txt"}
    if acl is not None:
        body["acl"] = acl
    st, _, o, _ = call("POST", f"/v1/collections/{coll}/documents", key=WRITER, body=body)
    if t.check(st == 200 and o["replaced"], f"replace record {i}", str((st, o))):
        docs[i] = (o["id"], coll, title, token, acl)
    if n % 2:
        call("POST", "/v1/search", key=READERS["carol"], body={"query": token, "k": 3})
# (the writer's key has no user or group: it may delete only documents without a list)
gone = set(rng.sample([i for i in range(len(docs)) if i not in changed and docs[i][4] is None],
                      len(docs) // 10))
for i in sorted(gone):
    st, _, o, _ = call("DELETE", f"/v1/collections/{docs[i][1]}/documents/{docs[i][0]}",
                       key=WRITER)
    t.check(st == 200 and o["deleted"], f"delete record {i}", str((st, o)))
    call("POST", "/v1/search", key=READERS["bob"], body={"query": docs[i][3], "k": 3})
check_readers([d for i, d in enumerate(docs) if i not in gone], "replaced and deleted",
              [d for i, d in enumerate(docs) if i in gone])
t.check(sum(1 for d in docs if d[4] is not None) > 0 and
        any(may_read(r, d[4]) != may_read("carol", d[4]) for r in USERS for d in docs),
        "the random access lists separate the readers")

rc = srv.stop()
t.check(rc == 0, "the server stops cleanly", str(rc))


# ---- JSON Web Tokens (HS256 and RS256) beside API keys ----
def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(claims, alg="HS256", secret=None, rsa_key=None):
    head = b64u(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64u(json.dumps(claims).encode())
    signing = f"{head}.{body}".encode()
    if alg == "HS256":
        sig = hmac.new(secret, signing, hashlib.sha256).digest()
    elif alg == "RS256":
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", rsa_key], input=signing,
                             capture_output=True, check=True).stdout
    else:
        sig = b""
    return f"{head}.{body}.{b64u(sig)}"


keys_dir = tempdir("ragd-jwt-")
secret = b"s3cret-" + b"x" * 40
secret_file = os.path.join(keys_dir, "hs.secret")
with open(secret_file, "wb") as f:
    f.write(secret + b"\n")
now = int(time.time())
alice_claims = {"sub": "alice", "groups": ["eng"], "scope": "read", "exp": now + 600,
                "iss": "idp.example"}
srv = Server(data, "--jwt-secret-file", secret_file, "--jwt-issuer", "idp.example",
             no_auth=False)
query = {"query": TOPICS[0], "k": 50, "mode": "lexical"}
st, _, by_key, _ = call("POST", "/v1/search", key=READERS["alice"], body=query)
st2, _, by_jwt, _ = call("POST", "/v1/search", key=token(alice_claims, secret=secret), body=query)
t.check(st == 200 and st2 == 200 and by_jwt["results"] and
        [r["chunk_id"] for r in by_jwt["results"]] == [r["chunk_id"] for r in by_key["results"]],
        "an HS256 token for alice (group eng) sees what alice's key sees", str((st2, by_jwt))[:300])
st, _, carol_view, _ = call("POST", "/v1/search", body=query,
                            key=token(dict(alice_claims, sub="carol", groups=[]), secret=secret))
t.check(st == 200 and len(carol_view["results"]) < len(by_jwt["results"]),
        "a token's user and groups decide what it reads", str(st))
bad_tokens = {
    "expired": token(dict(alice_claims, exp=now - 10), secret=secret),
    "without exp": token({k: v for k, v in alice_claims.items() if k != "exp"}, secret=secret),
    "not valid yet": token(dict(alice_claims, nbf=now + 600), secret=secret),
    "another secret": token(alice_claims, secret=b"y" * 48),
    "alg none": token(alice_claims, alg="none"),
    "another issuer": token(dict(alice_claims, iss="evil.example"), secret=secret),
    "no sub": token({k: v for k, v in alice_claims.items() if k != "sub"}, secret=secret),
    "tampered": token(alice_claims, secret=secret)[:-3] + "AAA",
}
for what, tok in bad_tokens.items():
    st, h, o, _ = call("POST", "/v1/search", key=tok, body=query)
    t.check(st == 401 and o["error"]["code"] == "unauthorized", f"a token {what}: 401",
            str((st, o)))
st, _, o, _ = call("POST", "/v1/collections/policies/documents", body={"text": "x"},
                   key=token(alice_claims, secret=secret))
t.check(st == 403, "a read token cannot write", str((st, o)))
st, _, o, _ = call("POST", "/v1/collections/policies/documents",
                   key=token(dict(alice_claims, scope="read write"), secret=secret),
                   body={"text": "Tokens can write.", "source": "jwt-note.txt"})
t.check(st == 201, "a token with scope \"read write\" can", str((st, o)))
st, _, o, _ = call("POST", "/v1/search", key=READERS["bob"], body=query)
t.check(st == 200, "API keys still work beside tokens", str(st))
t.check(srv.stop() == 0, "the JWT server stops cleanly")

rsa_key = os.path.join(keys_dir, "rsa.pem")
rsa_pub = os.path.join(keys_dir, "rsa.pub.pem")
subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                "-out", rsa_key], capture_output=True, check=True)
subprocess.run(["openssl", "pkey", "-in", rsa_key, "-pubout", "-out", rsa_pub],
               capture_output=True, check=True)
srv = Server(data, "--jwt-public-key", rsa_pub, no_auth=False)
st, _, o, _ = call("POST", "/v1/search", body=query,
                   key=token(alice_claims, alg="RS256", rsa_key=rsa_key))
t.check(st == 200 and [r["chunk_id"] for r in o["results"]] ==
        [r["chunk_id"] for r in by_key["results"]], "an RS256 token verifies with the public key",
        str((st, o))[:200])
confused = token(alice_claims, secret=open(rsa_pub, "rb").read())
st, _, o, _ = call("POST", "/v1/search", body=query, key=confused)
t.check(st == 401, "an HS256 token keyed with the RSA public key is refused", str((st, o)))
t.check(srv.stop() == 0, "the RS256 server stops cleanly")
p = run(["serve", "--listen", "127.0.0.1:0", "--jwt-secret-file", rsa_pub + ".missing"],
        data=data)
t.check(p.returncode == 2 and one_error_line(p.stderr), "a missing key file: one error line",
        p.stderr)
short = os.path.join(keys_dir, "short")
with open(short, "w") as f:
    f.write("tooshort")
p = run(["serve", "--listen", "127.0.0.1:0", "--jwt-secret-file", short], data=data)
t.check(p.returncode == 2 and "32 bytes" in p.stderr, "a short HS256 secret is refused", p.stderr)

# ---- --pii-mask: uploads are masked before they are stored ----
srv = Server(data, "--pii-mask")
card, mail = "4111 1111 1111 1111", "wanda.wu@example.org"
st, _, o, _ = call("POST", "/v1/collections/policies/documents", body={
    "text": f"Refunds go to card {card}; questions to {mail} about the refund desk.",
    "title": "Refund desk", "source": "refund.txt"})
doc_id = o["id"] if o else 0
st2, _, d, text = call("GET", f"/v1/collections/policies/documents/{doc_id}")
t.check(st == 201 and st2 == 200 and card not in text and mail not in text and
        "[CARD]" in d["text"] and "[EMAIL]" in d["text"] and
        d["metadata"]["pii"] == {"card": 1, "email": 1},
        "serve --pii-mask masks an upload and counts it", str(d)[:300])
st, _, o, text = call("POST", "/v1/search", body={"query": "refund desk card", "k": 5})
t.check(st == 200 and card not in text and mail not in text, "nothing masked is searchable")
t.check(srv.stop() == 0, "the masking server stops cleanly")
t.done()
