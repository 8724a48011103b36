"""Hostile input against `ragd serve` and the CLI: every named limit gives a
clear 4xx in the error envelope ({"error": {"code", "message"}}), and after
each refusal the server still answers a normal search. Covers the request
body, JSON nesting depth and \\u0000, invalid UTF-8 in every JSON endpoint
and in upload names, query length, filters (document ids, metadata keys and
value length), k, history turns and chat messages, embedding inputs,
document uploads (size, names that read like paths, no file written), and
sync confinement (.. segments, absolute paths, symlinks out of the root).
The CLI gets the same limits as one-line errors with a non-zero exit. No
embedding model is needed: the server runs lexical only."""
import json
import os
import socket
import sys
from urllib.parse import quote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checks, one_error_line, run, run_json, tempdir  # noqa: E402
from serve_util import TIMEOUT, Server  # noqa: E402

# The limits as named in the sources.
BODY_MAX = 1 << 20             # rg_server_options.max_body default
JSON_DEPTH_MAX = 64            # CLI_JSON_DEPTH_MAX
QUERY_MAX = 8192               # RG_QUERY_MAX_BYTES
FILTER_DOCS_MAX = 10000        # RG_FILTER_MAX_DOCS
FILTER_META_MAX = 32           # RG_FILTER_MAX_META
FILTER_KEY_MAX = 64            # RG_FILTER_KEY_MAX
FILTER_VALUE_MAX = 1024        # CLI_FILTER_VALUE_MAX
SEARCH_K_MAX = 1000            # RG_SEARCH_MAX_K
ANSWER_K_MAX = 64              # RG_ANSWER_SOURCES_MAX
HISTORY_TURNS_MAX = 64         # RG_HISTORY_MAX_TURNS
CHAT_MESSAGES_MAX = 64         # SERVE_CHAT_MESSAGES_MAX
EMBED_INPUTS_MAX = 256         # SERVE_EMBED_INPUTS_MAX
EMBED_TEXT_MAX = 64 * 1024     # SERVE_EMBED_TEXT_MAX
UPLOAD_MAX = 32 << 20          # SERVE_UPLOAD_MAX
DOC_NAME_MAX = 1024            # SERVE_DOC_NAME_MAX

t = Checks("limits")
data, docs = tempdir(), tempdir("ragd-limits-docs-")
with open(os.path.join(docs, "lighthouse.md"), "w") as f:
    f.write("# Lighthouse\n\nThe lighthouse keeper Brunhildexq logs the fog every night.\n")
p, s = run_json(["ingest", docs], data=data)
t.check(p.returncode == 0 and s and s["added"] == 1, "ingest a document", p.stderr)

# a sync root with a way out: a symlinked file and folder, and a folder beside it
sync_root, outside = tempdir("ragd-limits-sync-"), tempdir("ragd-limits-outside-")
os.makedirs(os.path.join(sync_root, "docs"))
with open(os.path.join(sync_root, "docs", "harbour.md"), "w") as f:
    f.write("# Harbour\n\nThe harbour master Oskarvyq counts the boats.\n")
with open(os.path.join(outside, "secret.md"), "w") as f:
    f.write("# Secret\n\nThe vault code word is Zanzibarqx.\n")
os.symlink(os.path.join(outside, "secret.md"), os.path.join(sync_root, "docs", "leak.md"))
os.symlink(outside, os.path.join(sync_root, "docs", "outside-dir"))
os.symlink(outside, os.path.join(sync_root, "escape"))
sibling = sync_root + "-sibling"  # shares the root's name as a prefix
os.makedirs(sibling)

srv = Server(data, "--sync-root", sync_root)


def envelope(st, o, status, code):
    return (st == status and isinstance(o, dict) and set(o) == {"error"}
            and o["error"].get("code") == code and bool(o["error"].get("message")))


def still_serves(what):
    st, _, o, _ = srv.request("POST", "/v1/search", {"query": "lighthouse keeper", "k": 1})
    t.check(st == 200 and o and len(o["results"]) == 1,
            f"{what}: the server still serves a normal search", str((st, o))[:200])


def refused(what, path, body=None, raw=None, status=400, code="invalid_request", needle="",
            method="POST", headers=None):
    st, _, o, _ = srv.request(method, path, body=body, raw=raw, headers=headers)
    msg = o["error"]["message"] if isinstance(o, dict) and "error" in o else ""
    t.check(envelope(st, o, status, code) and needle in msg, f"{what}: {status} {code}",
            str((st, o))[:300])
    still_serves(what)


def accepted(what, path, body, status=200):
    st, _, o, _ = srv.request("POST", path, body=body)
    t.check(st == status, f"{what}: {status}", str((st, o))[:300])
    return o


def raw_refused(what, head, first_bytes, status=413, code="too_large"):
    """Sends headers that announce a large body and only its first bytes:
    the answer must come from the Content-Length alone."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT)
    s.sendall(head + first_bytes)
    resp = b""
    while b"\r\n\r\n" not in resp or not resp.rstrip().endswith(b"}"):
        got = s.recv(4096)
        if not got:
            break
        resp += got
    s.close()
    headline, _, body = resp.partition(b"\r\n\r\n")
    try:
        o = json.loads(body)
    except ValueError:
        o = None
    t.check(headline.startswith(b"HTTP/1.1 %d" % status) and envelope(status, o, status, code),
            f"{what}: {status} {code} before the body is read", resp[:300].decode("latin-1"))
    still_serves(what)


def nested(depth):
    """A body whose deepest value sits depth levels down (the object counts)."""
    inner = "[" * (depth - 1) + "]" * (depth - 1)
    return ('{"query": "lighthouse keeper", "k": 1, "extra": ' + inner + "}").encode()


still_serves("start")

# ---- request body and JSON shape ----
raw_refused("a body over 1 MiB", b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: "
            b"application/json\r\nContent-Length: %d\r\n\r\n" % (BODY_MAX + 1),
            b'{"query": "' + b"x" * 65536)
st, _, o, _ = srv.request("POST", "/v1/search", raw=nested(JSON_DEPTH_MAX))
t.check(st == 200, f"JSON nested {JSON_DEPTH_MAX} deep is accepted", str((st, o))[:200])
refused(f"JSON nested {JSON_DEPTH_MAX + 1} deep", "/v1/search", raw=nested(JSON_DEPTH_MAX + 1),
        code="invalid_json", needle="deeper than 64")
refused("JSON nested 10000 deep", "/v1/search", raw=nested(10000), code="invalid_json")
refused("JSON nested 100000 deep, unclosed", "/v1/answer", raw=b"{" + b'"a":[' * 100000,
        code="invalid_json")
refused("brackets inside strings do not count", "/v1/search",
        raw=b'{"query": "' + b"[" * 5000 + b'", "k": 0}', needle="'k'")
refused("\\u0000 in a string", "/v1/search", raw=b'{"query": "light\\u0000house"}',
        needle="\\u0000")
refused("a lone surrogate escape", "/v1/search", raw=b'{"query": "\\ud800"}',
        code="invalid_json")
for path, body in [("/v1/search", b'{"query": "caf\xc3\x28"}'),
                   ("/v1/answer", b'{"question": "\xff\xfe"}'),
                   ("/v1/chat/completions", b'{"model": "ragd", "messages": '
                    b'[{"role": "user", "content": "\xed\xa0\x80"}]}'),
                   ("/v1/embeddings", b'{"input": ["ok", "\xc0\xaf"]}'),
                   ("/v1/collections/default/documents", b'{"text": "over\xe2\x82long"}'),
                   ("/v1/collections/default/sync", b'{"path": "docs\xff"}')]:
    refused(f"invalid UTF-8 in {path}", path, raw=body, needle="UTF-8")

# ---- query length ----
o = accepted(f"a query of {QUERY_MAX} bytes", "/v1/search",
             {"query": "lighthouse " + "x" * (QUERY_MAX - 11)})
refused(f"a query of {QUERY_MAX + 1} bytes", "/v1/search", {"query": "x" * (QUERY_MAX + 1)},
        status=413, code="too_large")
refused(f"a question of {QUERY_MAX + 1} bytes", "/v1/answer",
        {"question": "x" * (QUERY_MAX + 1)}, status=413, code="too_large")
refused(f"a chat question of {QUERY_MAX + 1} bytes", "/v1/chat/completions",
        {"model": "ragd", "messages": [{"role": "user", "content": "x" * (QUERY_MAX + 1)}]},
        status=413, code="too_large")

# ---- filters ----
accepted(f"{FILTER_DOCS_MAX} document ids", "/v1/search",
         {"query": "lighthouse", "filters": {"document_ids": list(range(1, FILTER_DOCS_MAX + 1))}})
refused(f"{FILTER_DOCS_MAX + 1} document ids", "/v1/search",
        {"query": "x", "filters": {"document_ids": list(range(1, FILTER_DOCS_MAX + 2))}},
        status=413, code="too_large")
meta = {f"k{i}": "v" for i in range(FILTER_META_MAX)}
accepted(f"{FILTER_META_MAX} metadata filters", "/v1/search",
         {"query": "lighthouse", "filters": {"metadata": meta}})
refused(f"{FILTER_META_MAX + 1} metadata filters", "/v1/search",
        {"query": "x", "filters": {"metadata": dict(meta, extra="v")}}, status=413,
        code="too_large")
refused(f"a metadata key of {FILTER_KEY_MAX + 1} bytes", "/v1/search",
        {"query": "x", "filters": {"metadata": {"k" * (FILTER_KEY_MAX + 1): "v"}}})
accepted(f"a metadata value of {FILTER_VALUE_MAX} bytes", "/v1/search",
         {"query": "x", "filters": {"metadata": {"team": "v" * FILTER_VALUE_MAX}}})
refused(f"a metadata value of {FILTER_VALUE_MAX + 1} bytes", "/v1/search",
        {"query": "x", "filters": {"metadata": {"team": "v" * (FILTER_VALUE_MAX + 1)}}},
        status=413, code="too_large")
refused("a metadata value that is not a string", "/v1/search",
        {"query": "x", "filters": {"metadata": {"team": ["a", "b"]}}})
refused("an unknown filter", "/v1/search", {"query": "x", "filters": {"acl": "root"}})

# ---- k ----
accepted(f"k = {SEARCH_K_MAX}", "/v1/search", {"query": "lighthouse", "k": SEARCH_K_MAX})
for k in (0, -1, SEARCH_K_MAX + 1, 2.5, "5", 1e300):
    refused(f"search k = {k!r}", "/v1/search", {"query": "x", "k": k}, needle="'k'")
for k in (0, ANSWER_K_MAX + 1):
    refused(f"answer k = {k}", "/v1/answer", {"question": "x", "k": k}, needle="'k'")

# ---- conversations ----
turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": "lighthouse"}
         for i in range(HISTORY_TURNS_MAX + 1)]
accepted(f"a history of {HISTORY_TURNS_MAX} turns", "/v1/answer",
         {"question": "Who logs the fog?", "history": turns[:HISTORY_TURNS_MAX]})
refused(f"a history of {HISTORY_TURNS_MAX + 1} turns", "/v1/answer",
        {"question": "Who logs the fog?", "history": turns}, status=413, code="too_large")
refused("a history turn of 40 KiB", "/v1/answer",
        {"question": "x", "history": [{"role": "user", "content": "x" * 40000}]}, status=413,
        code="too_large")
msgs = turns[:CHAT_MESSAGES_MAX - 1] + [{"role": "user", "content": "Who logs the fog?"}]
accepted(f"{CHAT_MESSAGES_MAX} chat messages", "/v1/chat/completions",
         {"model": "ragd", "messages": msgs})
refused(f"{CHAT_MESSAGES_MAX + 1} chat messages", "/v1/chat/completions",
        {"model": "ragd", "messages": [{"role": "user", "content": "x"}] + msgs},
        status=413, code="too_large")

# ---- embeddings (checked before the missing model is reported) ----
refused(f"{EMBED_INPUTS_MAX + 1} inputs", "/v1/embeddings",
        {"input": ["a"] * (EMBED_INPUTS_MAX + 1)}, status=413, code="too_large")
refused(f"an input of {EMBED_TEXT_MAX + 1} bytes", "/v1/embeddings",
        {"input": ["a", "x" * (EMBED_TEXT_MAX + 1)]}, status=413, code="too_large")
refused("an empty input", "/v1/embeddings", {"input": ["a", ""]})
refused("a valid input without a model", "/v1/embeddings", {"input": "a"}, status=503,
        code="no_model")

# ---- uploads ----
DOCS = "/v1/collections/up/documents"
raw_refused(f"a raw upload over {UPLOAD_MAX} bytes",
            b"POST " + DOCS.encode() + b"?source=big.txt HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % (UPLOAD_MAX + 1),
            b"x" * 65536)
raw_refused(f"a JSON upload over {UPLOAD_MAX} bytes",
            b"POST " + DOCS.encode() + b" HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (UPLOAD_MAX + 1),
            b'{"text": "' + b"x" * 65536)
cwd_before = set(os.listdir("."))
data_before = sorted(os.walk(data))
names = ["../escape.txt", "../../../../tmp/ragd-escape.txt", "/etc/ragd-escape.txt",
         "a/../../escape.txt", "..", "a\\..\\escape.txt", "line\nbreak.txt"]
for name in names:
    refused(f"raw upload named {name!r}", f"{DOCS}?source={quote(name, safe='')}",
            raw=b"Boats.", headers={"Content-Type": "text/plain"}, needle="'source'")
    refused(f"JSON upload named {name!r}", DOCS, {"text": "Boats.", "source": name},
            needle="'source'")
refused("raw upload named with invalid UTF-8", f"{DOCS}?source=%FF%FE.txt", raw=b"Boats.",
        headers={"Content-Type": "text/plain"}, needle="UTF-8")
refused(f"a title of {DOC_NAME_MAX + 1} bytes", f"{DOCS}?source=a.txt&title={'t' * 1025}",
        raw=b"Boats.", headers={"Content-Type": "text/plain"}, status=413, code="too_large")
refused("a raw upload that is not UTF-8", f"{DOCS}?source=latin1.txt",
        raw=b"Caf\xe9 au lait, " * 20, headers={"Content-Type": "text/plain"})
t.check(not os.path.exists("/tmp/ragd-escape.txt") and not os.path.exists("/etc/ragd-escape.txt")
        and set(os.listdir(".")) == cwd_before and sorted(os.walk(data)) == data_before
        and not os.path.exists(os.path.join(os.path.dirname(data), "escape.txt")),
        "refused uploads wrote no file anywhere")
st, _, o, _ = srv.request("POST", f"{DOCS}?source=wiki/ops/boats..txt", raw=b"Boats are counted.",
                          headers={"Content-Type": "text/plain"})
t.check(st == 201 and o["source"] == "wiki/ops/boats..txt",
        "a name with folders (and '..' inside a segment) is a label, accepted", str((st, o)))
t.check(not any(f.endswith("boats..txt") for _, _, fs in os.walk(data) for f in fs),
        "an accepted upload is stored in the database, not as a file")

# ---- sync confinement ----
SYNC = "/v1/collections/synced/sync"
st, _, o, _ = srv.request("POST", SYNC, {"path": "docs"})
t.check(st == 200 and o["added"] == 1, "sync a folder inside the root", str((st, o))[:300])
st, _, o, _ = srv.request("POST", "/v1/search", {"query": "vault code word Zanzibarqx",
                                                 "mode": "lexical", "collection": "synced"})
t.check(st == 200 and not o["results"], "a symlink inside the root is not followed out of it",
        str(o)[:300])
st, _, o, _ = srv.request("POST", SYNC, {"path": "docs/../docs"})
t.check(st == 200, "'..' that stays inside the root is fine", str((st, o))[:300])
for bad in ["../" + os.path.basename(outside), "docs/../../" + os.path.basename(outside),
            "docs/../..", outside, "/etc", "/", "escape", "docs/outside-dir", "docs/leak.md",
            sibling, "../" + os.path.basename(sibling), "nonexistent"]:
    refused(f"sync of {bad!r}", SYNC, {"path": bad}, status=403, code="forbidden")

srv.stop()

# ---- the CLI: one error line, a non-zero exit, nothing done ----


def cli_refused(what, args, needle):
    p = run(args, data=data, timeout=120)
    t.check(p.returncode != 0 and one_error_line(p.stderr) and needle in p.stderr,
            f"CLI {what}: one error line, exit {p.returncode}", p.stderr[:300])


cli_refused(f"search query of {QUERY_MAX + 1} bytes", ["search", "x" * (QUERY_MAX + 1)],
            "longer than 8192")
cli_refused("search query split over words too long", ["search"] + ["xxxx"] * 2000,
            "longer than 8192")
cli_refused("search query with invalid UTF-8", ["search", "caf\udcc3("], "UTF-8")
cli_refused(f"ask question of {QUERY_MAX + 1} bytes", ["ask", "x" * (QUERY_MAX + 1)],
            "longer than 8192")
cli_refused("ask question with invalid UTF-8", ["ask", "\udcff"], "UTF-8")
for k in ("0", "-1", str(SEARCH_K_MAX + 1), "2x"):
    cli_refused(f"search -k {k}", ["search", "-k", k, "lighthouse"], "-k")
cli_refused(f"search --where value of {FILTER_VALUE_MAX + 1} bytes",
            ["search", "--where", "team=" + "v" * (FILTER_VALUE_MAX + 1), "lighthouse"],
            "--where")
cli_refused(f"search with {FILTER_META_MAX + 1} --where",
            ["search"] + [a for i in range(FILTER_META_MAX + 1)
                          for a in ("--where", f"k{i}=v")] + ["lighthouse"], "--where")
hist = os.path.join(docs, "deep.json")
with open(hist, "w") as f:
    f.write("[" * 100000 + "]" * 100000)
cli_refused("ask --history nested 100000 deep", ["ask", "--history", hist, "why?"], "deeper")
with open(hist, "w") as f:
    json.dump([{"role": "user", "content": "x"}] * (HISTORY_TURNS_MAX + 1), f)
cli_refused(f"ask --history of {HISTORY_TURNS_MAX + 1} turns", ["ask", "--history", hist, "why?"],
            "more than 64 turns")
p, r = run_json(["search", "-k", "1", "lighthouse keeper"], data=data)
t.check(p.returncode == 0 and r and len(r["results"]) == 1, "the CLI still searches", p.stderr)
t.done()
