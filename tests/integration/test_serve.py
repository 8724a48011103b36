"""`ragd serve` end to end: the real binary on a loopback port over an
ingested corpus/, driven with raw HTTP and with the official `openai`
Python client. Checks every endpoint, the error envelope for bad input
(the server keeps serving after each), request ids, metrics, parallel
requests, a slow client, a searcher that sees documents ingested while it
runs, and a graceful stop on SIGTERM with a request in flight."""
import base64
import http.client
import json
import math
import os
import re
import shutil
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SKIP, Checks, corpus_and_queries, model_or_skip, run, run_json,  # noqa: E402
                     sanitized, tempdir, timeout_scale)
from serve_util import Server  # noqa: E402

MODEL = model_or_skip()
try:
    import openai
except ImportError:
    print("SKIP: the openai package is not installed (scripts/setup.sh installs it)")
    sys.exit(SKIP)

# Every call is bounded; the sanitizer build runs the encoder many times slower.
TIMEOUT = (120 if sanitized() else 30) * timeout_scale()
ROUTES = ["/healthz", "/readyz", "/openapi.json", "/metrics", "/v1/collections", "/v1/search",
          "/v1/answer", "/v1/chat/completions", "/v1/embeddings",
          "/v1/collections/{c}/documents", "/v1/collections/{c}/documents/{id}"]

t = Checks("serve")
corpus, queries = corpus_and_queries(extra=("hr/expense-travel-policy.md",))
data = tempdir()
p = run(["model", "import", MODEL], data=data)
t.check(p.returncode == 0, "model import", p.stderr)
p, s = run_json(["ingest", corpus], data=data)
t.check(p.returncode == 0 and s and s["failed"] == 0, "ingest the corpus", p.stderr)


def is_error(status, obj, code, expect_status):
    return (status == expect_status and isinstance(obj, dict) and set(obj) == {"error"}
            and obj["error"].get("code") == code and obj["error"].get("message"))


srv = Server(data)
base = f"http://127.0.0.1:{srv.port}"

# ---- health, OpenAPI ----
st, h, o, _ = srv.request("GET", "/healthz")
t.check(st == 200 and o == {"status": "ok"}, "GET /healthz", str((st, o)))
st, h, o, _ = srv.request("GET", "/readyz")
t.check(st == 200 and o and o["status"] == "ready" and o["workers"] == 2, "GET /readyz", str(o))
# vectors are loaded when a worker starts, not at the first query
st, h, _, payload = srv.request("GET", "/metrics")
gauges = dict(re.findall(r'^(ragd_index_(?:chunks|vectors))\{collection="default"\} (\d+)$',
                         payload.decode() if payload else "", re.M))
t.check(st == 200 and int(gauges.get("ragd_index_chunks", 0)) > 0 and
        gauges.get("ragd_index_vectors") == gauges.get("ragd_index_chunks"),
        "before any query, a worker holds a vector for every chunk", str(gauges))
st, h, o, _ = srv.request("GET", "/openapi.json")
t.check(st == 200 and o and o["openapi"].startswith("3.") and set(ROUTES) <= set(o["paths"]),
        "GET /openapi.json is an OpenAPI 3 document naming every route",
        str(sorted((o or {}).get("paths", {}))))
committed = json.load(open(os.path.join(os.path.dirname(__file__), "..", "..", "api",
                                        "openapi.json")))
t.check(o == committed, "the served OpenAPI document is the committed api/openapi.json")

# ---- search ----
hits_ok = 0
for q in queries:
    st, h, o, _ = srv.request("POST", "/v1/search", {"query": q["query"], "k": 5})
    if not t.check(st == 200 and o and "results" in o, "search: " + q["query"], str((st, o))):
        continue
    srcs = [r["source"] for r in o["results"]]
    hits_ok += any(s.endswith(q["expect"]) for s in srcs[:5])
t.check(hits_ok >= 0.9 * len(queries), f"search finds the expected document in the top 5 "
        f"({hits_ok}/{len(queries)})")
# the same answers as the CLI
q0 = queries[0]["query"]
st, h, o, _ = srv.request("POST", "/v1/search", {"query": q0, "k": 5})
p, cli = run_json(["search", "-k", "5", q0], data=data)
t.check(st == 200 and cli and [r["chunk_id"] for r in o["results"]] ==
        [r["chunk_id"] for r in cli["results"]], "HTTP search ranks as `ragd search` does")
t.check(all(k in o["timings_ms"] for k in ("embed", "dense", "lexical", "fuse", "fetch")) and
        o["mode"] == "hybrid", "search reports stage timings and the mode", str(o.get("timings_ms")))
top = o["results"][0]
for key in ("rank", "score", "chunk_id", "document_id", "collection", "title", "source",
            "byte_start", "byte_end", "snippet", "text"):
    t.check(key in top, f"a search result carries '{key}'")
# filters apply before ranking: restricted to one document, k results from it
doc = top["document_id"]
st, h, o, _ = srv.request("POST", "/v1/search",
                          {"query": q0, "k": 3, "filters": {"document_ids": [doc]}})
t.check(st == 200 and o["results"] and all(r["document_id"] == doc for r in o["results"]),
        "filters.document_ids restricts the results", str(o)[:300])
other = [r for r in srv.request("POST", "/v1/search", {"query": q0, "k": 10})[2]["results"]
         if r["document_id"] != doc][0]["document_id"]
st, h, o, _ = srv.request("POST", "/v1/search",
                          {"query": q0, "k": 3, "filters": {"document_ids": [other]}})
t.check(st == 200 and o["results"] and all(r["document_id"] == other for r in o["results"]),
        "a filter to a lower-ranked document still returns its chunks")
st, h, o, _ = srv.request("POST", "/v1/search", {"query": q0, "mode": "lexical", "k": 2})
t.check(st == 200 and o["mode"] == "lexical" and len(o["results"]) == 2, "mode lexical")
st, h, o, _ = srv.request("POST", "/v1/search", {"query": q0, "mode": "dense", "k": 2})
t.check(st == 200 and o["mode"] == "dense" and len(o["results"]) == 2, "mode dense")
st, h, o, _ = srv.request("GET", "/v1/collections")
t.check(st == 200 and o["collections"] and o["collections"][0]["chunks"] > 0,
        "GET /v1/collections lists the collection with counts", str(o))

# ---- errors: each a clear 4xx in the envelope, and the server keeps serving ----
bad = [
    ("malformed JSON", "POST", "/v1/search", b'{"query": ', {}, 400, "invalid_json"),
    ("not an object", "POST", "/v1/search", b'["query"]', {}, 400, "invalid_request"),
    ("invalid UTF-8", "POST", "/v1/search", b'{"query": "caf\xc3\x28"}', {}, 400,
     "invalid_request"),
    ("missing query", "POST", "/v1/search", b'{"k": 3}', {}, 400, "invalid_request"),
    ("empty query", "POST", "/v1/search", b'{"query": ""}', {}, 400, "invalid_request"),
    ("k out of range", "POST", "/v1/search", b'{"query": "x", "k": 100000}', {}, 400,
     "invalid_request"),
    ("k not an integer", "POST", "/v1/search", b'{"query": "x", "k": 2.5}', {}, 400,
     "invalid_request"),
    ("unknown mode", "POST", "/v1/search", b'{"query": "x", "mode": "magic"}', {}, 400,
     "invalid_request"),
    ("unknown filter", "POST", "/v1/search", b'{"query": "x", "filters": {"color": 1}}', {},
     400, "invalid_request"),
    ("bad date", "POST", "/v1/search", b'{"query": "x", "filters": {"since": "yesterday"}}',
     {}, 400, "invalid_request"),
    ("unknown collection", "POST", "/v1/search", b'{"query": "x", "collection": "nope"}', {},
     404, "collection_not_found"),
    ("query too long", "POST", "/v1/search", json.dumps({"query": "x" * 9000}).encode(), {},
     413, "too_large"),
    ("no such endpoint", "GET", "/v2/nothing", None, {}, 404, "not_found"),
    ("wrong method", "GET", "/v1/search", None, {}, 405, "method_not_allowed"),
    ("answer without question", "POST", "/v1/answer", b"{}", {}, 400, "invalid_request"),
    ("stream not a bool", "POST", "/v1/answer", b'{"question": "x", "stream": "yes"}', {}, 400,
     "invalid_request"),
    # found by tests/fuzz (fuzz_http): the 404 came after the stream had begun, and was lost
    ("streamed answer, unknown collection", "POST", "/v1/answer",
     b'{"question": "x", "stream": true, "collection": "nope"}', {}, 404, "collection_not_found"),
    ("chat without messages", "POST", "/v1/chat/completions", b'{"model": "ragd"}', {}, 400,
     "invalid_request"),
    ("chat ending with assistant", "POST", "/v1/chat/completions",
     b'{"model": "ragd", "messages": [{"role": "assistant", "content": "hi"}]}', {}, 400,
     "invalid_request"),
    ("embeddings of a number", "POST", "/v1/embeddings", b'{"input": 42}', {}, 400,
     "invalid_request"),
    ("embeddings of token ids", "POST", "/v1/embeddings", b'{"input": [[1, 2]]}', {}, 400,
     "invalid_request"),
]
for what, method, path, raw, hdrs, code_http, code in bad:
    st, h, o, _ = srv.request(method, path, raw=raw, headers=hdrs)
    t.check(is_error(st, o, code, code_http), f"{what}: {code_http} {code}", str((st, o))[:300])
    t.check("X-Request-Id" in h, f"{what}: the error carries X-Request-Id")
# a 2 GB body is refused from its Content-Length, before a byte of it is read
huge = socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT)
huge.sendall(b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"Content-Length: 2147483648\r\n\r\n{\"query\": \"")
resp = b""
while b"\r\n\r\n" not in resp or not resp.rstrip().endswith(b"}"):
    got = huge.recv(4096)
    if not got:
        break
    resp += got
huge.close()
head, _, body = resp.partition(b"\r\n\r\n")
t.check(head.startswith(b"HTTP/1.1 413") and b'"too_large"' in body,
        "a 2 GB Content-Length is answered 413 at once", resp[:300].decode(errors="replace"))
# a chunked body over the limit is read and thrown away, then answered 413
c = srv.conn()
c.putrequest("POST", "/v1/search")
c.putheader("Transfer-Encoding", "chunked")
c.endheaders()
for _ in range(20):
    piece = b"{" + b" " * 65536
    c.send(b"%x\r\n%s\r\n" % (len(piece), piece))
c.send(b"0\r\n\r\n")
r = c.getresponse()
o = json.loads(r.read() or b"null")
c.close()
t.check(is_error(r.status, o, "too_large", 413), "a chunked body over 1 MiB is 413", str(o))
st, _, o, _ = srv.request("GET", "/healthz")
t.check(st == 200, "the server still serves after the bad requests")

# ---- request ids ----
st, h, o, _ = srv.request("GET", "/healthz", headers={"X-Request-Id": "trace-42.a"})
t.check(h.get("X-Request-Id") == "trace-42.a", "a valid client X-Request-Id is echoed", str(h))
st, h, o, _ = srv.request("GET", "/healthz", headers={"X-Request-Id": "bad id with spaces"})
rid = h.get("X-Request-Id", "")
t.check(len(rid) == 16 and all(c in "0123456789abcdef" for c in rid),
        "an invalid X-Request-Id is replaced by a fresh one", rid)
time.sleep(0.2)
t.check(any('"request_id":"trace-42.a"' in l and '"event":"request"' in l for l in srv.lines),
        "requests are logged as JSON lines with their id")
t.check(all(json.loads(l) for l in srv.lines if l.startswith("{")), "every log line is JSON")
srv.request("POST", "/v1/search", {"query": q0, "k": 3}, headers={"X-Request-Id": "trace-43.s"})
time.sleep(0.2)
logged = [json.loads(l) for l in srv.lines if '"request_id":"trace-43.s"' in l]
t.check(len(logged) == 1 and 0 <= logged[0].get("queue_ms", -1) and
        0 < logged[0].get("run_ms", -1) <= logged[0]["ms"],
        "a worker's request is logged with its wait in the queue and its run time", str(logged))

# ---- answers ----
QA = "How many days do I have to submit an expense report?"
st, h, a, _ = srv.request("POST", "/v1/answer", {"question": QA})
t.check(st == 200 and a and "30 days" in a["answer"] and a["citations"] and not a["refused"],
        "POST /v1/answer answers with citations", str(a)[:300])
p, cli_a = run_json(["ask", QA], data=data)
t.check(cli_a and a and cli_a["answer"] == a["answer"], "the HTTP answer is the CLI's answer")
c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=TIMEOUT)
c.request("POST", "/v1/answer", body=json.dumps({"question": QA, "stream": True}))
r = c.getresponse()
events = r.read().decode().split("\n\n")
c.close()
tokens = [json.loads(e.split("data: ", 1)[1])["token"] for e in events if e.startswith("event: token")]
final = [json.loads(e.split("data: ", 1)[1]) for e in events if e.startswith("event: answer")]
t.check(r.status == 200 and r.getheader("Content-Type") == "text/event-stream",
        "a streamed answer is text/event-stream")
t.check(tokens and len(final) == 1 and "".join(tokens) == final[0]["answer"] == a["answer"],
        "streamed tokens add up to the final answer event", str(events)[:400])
st, h, r2, _ = srv.request("POST", "/v1/answer",
                           {"question": "What is the boiling point of liquid helium on Titan?"})
t.check(st == 200 and r2["refused"] and not r2["citations"],
        "an unanswerable question is refused", str(r2)[:200])

# ---- the official openai client: chat completions and embeddings ----
client = openai.OpenAI(base_url=base + "/v1", api_key="unused", timeout=TIMEOUT, max_retries=0)
resp = client.chat.completions.create(model="ragd", messages=[
    {"role": "system", "content": "You are helpful."}, {"role": "user", "content": QA}])
extra = resp.model_extra or {}
t.check(resp.choices[0].message.content == a["answer"] and resp.choices[0].finish_reason == "stop"
        and resp.object == "chat.completion", "openai client: chat completion answers",
        str(resp)[:300])
cit = (extra.get("citations") or [{}])[0]
st, h, o, _ = srv.request("POST", "/v1/search",
                          {"query": cit.get("passage", "")[:300], "mode": "lexical", "k": 50})
held = [r for r in (o or {}).get("results", []) if r["chunk_id"] == cit.get("chunk_id")]
t.check(held and cit["passage"] in held[0]["text"] and held[0]["source"] == cit["source"],
        "openai client: a citation's passage is in the chunk it names", str(cit)[:300])
t.check(resp.usage and resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0,
        "openai client: usage is reported")
parts, last = [], None
for chunk in client.chat.completions.create(model="ragd", stream=True,
                                            messages=[{"role": "user", "content": QA}]):
    if chunk.choices and chunk.choices[0].delta.content:
        parts.append(chunk.choices[0].delta.content)
    last = chunk
t.check("".join(parts) == a["answer"], "openai client: streamed deltas add up to the answer",
        "".join(parts))
t.check(last is not None and last.choices[0].finish_reason == "stop" and
        (last.model_extra or {}).get("citations"), "openai client: the last chunk has citations")
try:
    client.chat.completions.create(model="no-such-collection",
                                   messages=[{"role": "user", "content": QA}])
    t.check(False, "openai client: an unknown model is an error")
except openai.NotFoundError as e:
    t.check(e.status_code == 404, "openai client: an unknown model is 404 NotFoundError")
resp = client.chat.completions.create(model="default", messages=[{"role": "user", "content": QA}])
t.check(resp.choices[0].message.content == a["answer"], "a collection's name works as the model")

# multi-turn: a follow-up is rewritten from the conversation before retrieval
convo = [{"role": "user", "content": "Is there a deadline for submitting expense reports?"},
         {"role": "assistant", "content": "Yes, there is a deadline."}]
resp = client.chat.completions.create(model="ragd", messages=convo + [
    {"role": "user", "content": "How long is it?"}])
extra = resp.model_extra or {}
t.check("30 days" in resp.choices[0].message.content and
        extra["citations"][0]["source"].endswith("hr/expense-travel-policy.md") and
        "deadline" in extra["ragd"].get("rewritten_query", ""),
        "chat: a follow-up is answered from the conversation", str(extra)[:400])
st, h, o, _ = srv.request("POST", "/v1/answer", {"question": "How long is it?", "history": convo})
t.check(st == 200 and "30 days" in o["answer"] and o["rewrite"]["method"] == "plain",
        "/v1/answer takes a history", str(o)[:300])
st, h, o, _ = srv.request("POST", "/v1/answer", {"question": "How long is it?",
                                                 "history": [{"role": "robot", "content": "x"}]})
t.check(is_error(st, o, "invalid_request", 400), "a bad history is 400", str(o))

texts = ["How long before a laptop locks itself?", "特休假有幾天"]
emb = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts)  # base64 on the wire
p = run(["embed", "--model", MODEL] + texts, data=data)
ref = json.loads(p.stdout) if p.returncode == 0 else None
ref_vecs = ref["vectors"] if isinstance(ref, dict) else None
ok = ref_vecs is not None and len(emb.data) == 2
for i in range(2 if ok else 0):
    v, r_ = emb.data[i].embedding, ref_vecs[i]
    ok &= len(v) == 384 and max(abs(x - y) for x, y in zip(v, r_)) < 1e-5
    ok &= abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-4
t.check(ok, "openai client: embeddings equal `ragd embed` (384-d, unit norm, |diff| < 1e-5)",
        str(p.stderr)[:200])
st, h, o, _ = srv.request("POST", "/v1/embeddings", {"input": texts[0], "encoding_format": "float"})
st2, h2, o2, _ = srv.request("POST", "/v1/embeddings",
                             {"input": texts[0], "encoding_format": "base64"})
raw = base64.b64decode(o2["data"][0]["embedding"]) if o2 and st2 == 200 else b""
dec = list(struct.unpack(f"<{len(raw) // 4}f", raw[:len(raw) // 4 * 4]))
t.check(st == 200 and st2 == 200 and dec and len(raw) % 4 == 0 and
        len(dec) == len(o["data"][0]["embedding"]) and
        max(abs(x - y) for x, y in zip(o["data"][0]["embedding"], dec)) < 1e-6,
        "float and base64 encodings carry the same vector")
st, h, o, _ = srv.request("POST", "/v1/embeddings", {"input": ["a"] * 257})
t.check(is_error(st, o, "too_large", 413), "more than 256 inputs is 413", str(o))

# ---- parallel requests: every one answered, the same ranking as alone ----
expect = {q["query"]: None for q in queries[:8]}
for q in expect:
    expect[q] = [r["chunk_id"] for r in srv.request("POST", "/v1/search", {"query": q})[2]["results"]]
results, errors = [], []


def worker(i):
    try:
        q = list(expect)[i % len(expect)]
        st, h, o, _ = srv.request("POST", "/v1/search", {"query": q})
        results.append(st == 200 and [r["chunk_id"] for r in o["results"]] == expect[q])
    except Exception as e:  # noqa: BLE001
        errors.append(repr(e))


threads = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
for th in threads:
    th.start()
for th in threads:
    th.join()
t.check(len(results) == 32 and all(results) and not errors,
        "32 parallel searches all answered with the ranking they get alone", str(errors)[:300])

# ---- a slow client does not hold up others ----
slow = socket.create_connection(("127.0.0.1", srv.port))
slow.sendall(b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"query\"")
t0 = time.time()
st, _, o, _ = srv.request("POST", "/v1/search", {"query": q0})
t.check(st == 200 and time.time() - t0 < TIMEOUT / 2, "a slow client does not block others")
slow.close()

# ---- documents ingested while the server runs are found ----
extra_dir = tempdir()
with open(os.path.join(extra_dir, "parrot.md"), "w") as f:
    f.write("# Parrot policy\n\nThe office parrot Quetzalcoatlus is fed sunflower seeds at noon.\n")
p = run(["ingest", extra_dir], data=data)
t.check(p.returncode == 0, "ingest a new document while serving", p.stderr)
st, h, o, _ = srv.request("POST", "/v1/search", {"query": "What is the office parrot fed?"})
t.check(st == 200 and o["results"] and o["results"][0]["title"] == "Parrot policy",
        "a document ingested by another process is found without a restart", str(o)[:300])

# ---- metrics ----
st, h, _, payload = srv.request("GET", "/metrics")
text = payload.decode()
t.check(st == 200 and 'ragd_http_requests_total{method="POST",route="/v1/search",status="2xx"}'
        in text and "ragd_http_request_duration_seconds_bucket" in text and
        'ragd_index_chunks{collection="default"}' in text and "ragd_answers_total" in text,
        "GET /metrics exposes request counts, latency histograms and index sizes", text[:500])
n_search = [l for l in text.splitlines()
            if l.startswith('ragd_http_requests_total{method="POST",route="/v1/search",status="2xx"}')]
t.check(n_search and int(n_search[0].split()[-1]) >= 40, "the search counter counts", str(n_search))

# ---- graceful stop: a request in flight finishes, then the process exits 0 ----
inflight = {}


def long_request():
    try:
        inflight["r"] = srv.request("POST", "/v1/answer", {"question": QA})
    except Exception as e:  # noqa: BLE001
        inflight["e"] = repr(e)


th = threading.Thread(target=long_request)
th.start()
time.sleep(0.05)
rc = srv.stop()
th.join(TIMEOUT)
t.check(rc == 0, "SIGTERM stops the server with exit status 0", str(rc))
t.check("r" in inflight and inflight["r"][0] == 200, "a request in flight at SIGTERM completes",
        str(inflight)[:300])
try:
    socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()
    refused = False
except OSError:
    refused = True
t.check(refused, "after the stop, new connections are refused")
t.check(any('"event":"stopped"' in l for l in srv.lines), "the stop is logged")

# ---- --no-auth only on loopback ----
p = run(["serve", "--listen", "0.0.0.0:0", "--no-auth"], data=data, timeout=TIMEOUT)
t.check(p.returncode == 2 and "loopback" in p.stderr, "--no-auth is refused off loopback",
        p.stderr)
p = run(["serve", "--listen", "127.0.0.1:99999", "--no-auth"], data=data, timeout=TIMEOUT)
t.check(p.returncode == 2, "a bad port is a usage error", p.stderr)

shutil.rmtree(data, ignore_errors=True)
t.done()
