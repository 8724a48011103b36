"""LLM generators against a scripted server on 127.0.0.1 that plays the
protocol edge cases a real server will not produce on demand: a normal and
a trickling SSE stream, malformed and ignorable SSE lines, HTTP 500 then
success, 429 with Retry-After, an error event, a stream cut mid-answer, a
server that never finishes (total timeout), and Ollama NDJSON. Every
failure must end in the extractive fallback (fallback: true), in bounded
time. The model name of each request picks its scenario. Follow-ups with
--history: the rewrite request (recognised by its system message) carries
the conversation and the follow-up, and its reply is the retrieval query;
a rewrite that fails or stalls falls back to the plain rewrite and the
answer still comes from the LLM."""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checks, run, run_json, tempdir  # noqa: E402

ANSWER = ["The VPN gateway ", "listens on port ", "51820 for WireGuard traffic [1]."]
ANSWER_TEXT = "".join(ANSWER)
QUESTION = "Which port does the VPN gateway listen on?"
# A follow-up whose plain rewrite (the lunch question before it) retrieves the
# lunch document: only the LLM's rewrite leads retrieval to the VPN document.
FOLLOW_UP = "Which port does it listen on?"
LUNCH_TALK = [{"role": "user", "content": "When does the canteen serve lunch?"},
              {"role": "assistant", "content": "From noon until two in the afternoon [1]."}]
VPN_TALK = [{"role": "user", "content": "Tell me about the VPN gateway."},
            {"role": "assistant", "content": "It carries WireGuard traffic [1]."}]
REWRITE = "Which port does the VPN gateway listen on?"
# Every ragd call is bounded; the scripted server's stalls are shorter than this.
CALL_TIMEOUT_S = 30

seen = {}            # scenario -> requests received
bodies = {}          # scenario -> last request body
headers_seen = {}    # scenario -> last request headers
rewrites = {}        # scenario -> last rewrite request body
lock = threading.Lock()


def is_rewrite(req):
    """A follow-up's rewrite request, told apart by its system message."""
    msgs = req.get("messages") or [{}]
    return msgs[0].get("role") == "system" and "standalone search query" in msgs[0].get("content", "")


def sse_chunk(text=None, finish=None):
    delta = {"content": text} if text is not None else {}
    return "data: " + json.dumps({"choices": [{"index": 0, "delta": delta,
                                               "finish_reason": finish}]}) + "\n\n"


def normal_stream():
    return "".join(sse_chunk(p) for p in ANSWER) + sse_chunk(finish="stop") + "data: [DONE]\n\n"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # the body ends when the connection closes

    def log_message(self, *a):
        pass

    def send_body(self, code, body, ctype="application/json", extra=()):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def start_stream(self, ctype="text/event-stream"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.end_headers()

    def write(self, s, flush=True):
        self.wfile.write(s.encode())
        if flush:
            self.wfile.flush()

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        req = json.loads(self.rfile.read(n) or b"{}")
        scen = req.get("model", "")
        rewrite = is_rewrite(req)
        with lock:
            if rewrite:
                rewrites[scen] = req
            else:
                seen[scen] = seen.get(scen, 0) + 1
                bodies[scen] = req
                headers_seen[scen] = dict(self.headers)
            count = seen.get(scen, 0)
        try:
            if rewrite:
                self.play_rewrite(scen, self.path)
            else:
                self.play(scen, count, self.path)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def play_rewrite(self, scen, path):
        if scen == "rewrite_fail":
            return self.send_body(400, '{"error": {"message": "no rewrite for you"}}')
        if scen == "rewrite_stall":
            time.sleep(5)
        if path == "/api/chat":
            return self.send_body(200, json.dumps({"model": scen, "done": True, "message": {
                "role": "assistant", "content": REWRITE}}))
        text = 'Standalone query: "' + REWRITE + '"\n'
        self.send_body(200, json.dumps({"choices": [{"message": {"role": "assistant",
                                                                  "content": text},
                                                     "finish_reason": "stop"}]}))

    def play(self, scen, count, path):
        if path == "/api/chat":
            return self.play_ollama(scen)
        if scen in ("normal", "rewrite", "rewrite_fail", "rewrite_stall"):
            self.start_stream()
            self.write(normal_stream())
        elif scen == "trickle":
            self.start_stream()
            for b in (": keep-alive\n\n" + normal_stream()):
                self.write(b)
                time.sleep(0.002)
        elif scen == "ignorable":
            self.start_stream()
            self.write(": comment\r\n\r\nno colon at all\r\nbogus: field\r\nid: 3\r\n")
            for p in ANSWER:  # data: without its space, CRLF and CR line ends
                self.write("data:" + sse_chunk(p)[6:].replace("\n", "\r"))
            self.write("event: message\ndata: [DONE]\n\n")
        elif scen == "badjson":
            self.start_stream()
            self.write("data: {\"choices\": [ oops\n\n")
        elif scen == "error_event":
            self.start_stream()
            self.write("event: error\ndata: {\"error\": {\"message\": \"model overloaded\"}}\n\n")
        elif scen == "err500" and count == 1:
            self.send_body(500, '{"error": {"message": "boom"}}')
        elif scen == "err500":
            self.start_stream()
            self.write(normal_stream())
        elif scen == "err429" and count == 1:
            self.send_body(429, '{"error": {"message": "slow down"}}', extra=[("Retry-After", "1")])
        elif scen == "err429":
            self.start_stream()
            self.write(normal_stream())
        elif scen == "always500":
            self.send_body(503, "unavailable")
        elif scen == "unauthorized":
            self.send_body(401, '{"error": {"message": "bad key"}}')
        elif scen == "cut":
            self.start_stream()
            self.write(sse_chunk(ANSWER[0]) + sse_chunk(ANSWER[1]))
            # the connection closes here: no finish_reason, no [DONE]
        elif scen == "stall":
            self.start_stream()
            self.write(sse_chunk(ANSWER[0]))
            time.sleep(8)
        elif scen == "plain":
            body = {"choices": [{"message": {"role": "assistant", "content": ANSWER_TEXT},
                                 "finish_reason": "stop"}]}
            self.send_body(200, json.dumps(body))
        else:
            self.send_body(404, '{"error": "no such scenario"}')

    def play_ollama(self, scen):
        def line(text, done=False):
            return json.dumps({"model": scen, "message": {"role": "assistant", "content": text},
                               "done": done}) + "\n"
        self.start_stream("application/x-ndjson")
        if scen == "ollama":
            for p in ANSWER:
                for ch in [line(p)[:7], line(p)[7:]]:  # lines split across writes
                    self.write(ch)
                    time.sleep(0.01)
            self.write(line("", True))
        elif scen == "ollama_cut":
            self.write(line(ANSWER[0]))
        elif scen == "ollama_error":
            self.write(json.dumps({"error": "model 'x' not found"}) + "\n")


def main():
    t = Checks("llm_protocol")
    data, docs = tempdir(), tempdir("ragd-llm-docs-")
    with open(os.path.join(docs, "vpn.md"), "w") as f:
        f.write("# VPN\n\nThe VPN gateway listens on port 51820 for WireGuard traffic. "
                "Connect with the company client.\n")
    with open(os.path.join(docs, "lunch.md"), "w") as f:
        f.write("# Lunch\n\nThe canteen serves lunch from noon until two in the afternoon.\n")
    p, s = run_json(["ingest", docs], data=data)
    if not t.check(p.returncode == 0, "ingest the test documents", p.stderr):
        t.done()

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    env = {"OPENAI_API_KEY": "test-key"}

    def ask(model, kind="openai", extra=(), url=None, question=QUESTION):
        args = ["ask", "--mode", "lexical", "--llm", url or (base + "/v1"), "--llm-model", model,
                "--llm-kind", kind] + list(extra) + [question]
        t0 = time.monotonic()
        p, a = run_json(args, data=data, env=env, timeout=CALL_TIMEOUT_S)
        return p, a, time.monotonic() - t0

    def answered_by(name, a, gen="openai"):
        return a is not None and not a["fallback"] and a["generator"] == gen \
            and "51820" in a["answer"] and a["citations"] and not a["refused"]

    def fell_back(a):
        return a is not None and a["fallback"] and a["generator"] == "extractive"

    # a normal stream, and the request it answered
    p, a, _ = ask("normal")
    t.check(p.returncode == 0 and answered_by("normal", a), "normal stream answers", p.stderr)
    t.check(a and a["model"] == "normal", "the answer names the model")
    b = bodies.get("normal", {})
    t.check(b.get("stream") is True and [m["role"] for m in b.get("messages", [])] ==
            ["system", "user"] and "51820" in b["messages"][1]["content"],
            "request carries the grounded prompt, streaming", str(b)[:300])
    t.check(headers_seen.get("normal", {}).get("Authorization") == "Bearer test-key",
            "API key from OPENAI_API_KEY is sent")
    t.check(b.get("max_tokens") == 512, "the answer's tokens default to 512", str(b)[:300])
    p, a, _ = ask("normal", extra=["--llm-max-tokens", "77", "--llm-context", "8192"])
    b = bodies.get("normal", {})
    t.check(p.returncode == 0 and answered_by("normal", a) and b.get("max_tokens") == 77
            and a["prompt"]["sources"] >= 1, "--llm-max-tokens is sent as max_tokens",
            str(b)[:300] + p.stderr)

    # --stream: text pieces as they arrive, then the checked answer
    p = run(["ask", "--mode", "lexical", "--llm", base + "/v1", "--llm-model", "trickle",
             "--stream", QUESTION], data=data, env=env, timeout=CALL_TIMEOUT_S)
    t.check(p.returncode == 0 and p.stdout.startswith(ANSWER_TEXT) and "Sources:" in p.stdout,
            "trickling stream, one byte per write, prints tokens then sources",
            p.stdout[:300] + p.stderr)
    p = run(["--json", "ask", "--mode", "lexical", "--llm", base + "/v1", "--llm-model", "normal",
             "--stream", QUESTION], data=data, env=env, timeout=CALL_TIMEOUT_S)
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    t.check(p.returncode == 0 and len(lines) == len(ANSWER) + 1 and
            [x.get("token") for x in lines[:-1]] == ANSWER and "answer" in lines[-1],
            "--json --stream: one token line per piece, then the answer", p.stdout[:400])

    p, a, _ = ask("ignorable")
    t.check(p.returncode == 0 and answered_by("ignorable", a),
            "comments, unknown fields, 'data:' without space, CR/CRLF ends", p.stderr)
    p, a, _ = ask("plain", extra=[])
    t.check(p.returncode == 0 and a is not None, "non-streamed reply is read", p.stderr)

    # failures before any token: retried
    p, a, _ = ask("err500")
    t.check(p.returncode == 0 and answered_by("err500", a) and seen.get("err500") == 2,
            "HTTP 500 then success: retried", f"{seen.get('err500')} {p.stderr}")
    p, a, took = ask("err429")
    t.check(p.returncode == 0 and answered_by("err429", a) and seen.get("err429") == 2
            and took >= 1.0, "429 with Retry-After: 1 waits and retries", f"{took:.2f}s {p.stderr}")
    p, a, took = ask("always500")
    t.check(p.returncode == 0 and fell_back(a) and seen.get("always500") == 4 and took < 20,
            "persistent 503: 1 + 3 retries, then the fallback", f"{seen.get('always500')} {took:.1f}s")
    p, a, _ = ask("unauthorized")
    t.check(p.returncode == 0 and fell_back(a) and seen.get("unauthorized") == 1
            and "bad key" in a.get("fallback_reason", ""),
            "401 is not retried; its message is reported", str(a and a.get("fallback_reason")))

    # failures that end in the extractive fallback
    p, a, _ = ask("badjson")
    t.check(p.returncode == 0 and fell_back(a) and "not JSON" in a.get("fallback_reason", ""),
            "malformed event data: fallback", str(a and a.get("fallback_reason")))
    p, a, _ = ask("error_event")
    t.check(p.returncode == 0 and fell_back(a) and "overloaded" in a.get("fallback_reason", ""),
            "error event: the server's message, fallback", str(a and a.get("fallback_reason")))
    p, a, _ = ask("cut")
    t.check(p.returncode == 0 and fell_back(a) and "51820" in a["answer"]
            and "ended before" in a.get("fallback_reason", ""),
            "stream cut mid-answer: the extractive answer, fallback true", p.stderr)
    t.check("LLM failed" in p.stderr and "warning" in p.stderr, "the fallback is reported on stderr")
    p, a, took = ask("stall", extra=["--llm-timeout", "2"])
    t.check(p.returncode == 0 and fell_back(a) and took < 7,
            "total timeout: bounded, then the fallback", f"{took:.1f}s {a and a.get('fallback_reason')}")

    # Ollama NDJSON
    p, a, _ = ask("ollama", kind="ollama", url=base)
    t.check(p.returncode == 0 and answered_by("ollama", a, "ollama"), "Ollama NDJSON stream answers",
            p.stderr)
    t.check(bodies.get("ollama", {}).get("stream") is True, "Ollama request streams")
    p, a, _ = ask("ollama_cut", kind="ollama", url=base)
    t.check(p.returncode == 0 and fell_back(a), "Ollama stream without done: fallback", p.stderr)
    p, a, _ = ask("ollama_error", kind="ollama", url=base)
    t.check(p.returncode == 0 and fell_back(a) and "not found" in a.get("fallback_reason", ""),
            "Ollama error line: fallback with its message", str(a and a.get("fallback_reason")))

    # follow-ups: the LLM rewrites, and its query is what retrieval searches
    def history(name, turns):
        path = os.path.join(docs, name + ".history.json")
        with open(path, "w") as f:
            json.dump([{"role": "system", "content": "Be brief."}] + turns, f)
        return path

    lunch, vpn = history("lunch", LUNCH_TALK), history("vpn", VPN_TALK)
    p, a, _ = ask("rewrite", extra=["--history", lunch], question=FOLLOW_UP)
    rb = rewrites.get("rewrite", {})
    msgs = rb.get("messages", [])
    # (citation markers of earlier answers are made inert, as in the answer prompt)
    t.check([m["role"] for m in msgs] == ["system", "user"]
            and all(m["content"].replace("[1]", "(1)") in msgs[1]["content"] for m in LUNCH_TALK)
            and "<last_user_message>\n" + FOLLOW_UP in msgs[1]["content"]
            and "Be brief." not in msgs[1]["content"],
            "the rewrite request carries the conversation and the follow-up", json.dumps(rb)[:600])
    t.check(rb.get("stream") is False and rb.get("temperature") == 0 and rb.get("max_tokens") == 96,
            "the rewrite request is short: not streamed, temperature 0, 96 tokens", str(rb)[:300])
    t.check(p.returncode == 0 and a and a["rewrite"]["method"] == "llm"
            and a["rewritten_query"] == REWRITE and a["question"] == FOLLOW_UP,
            "the LLM's cleaned rewrite is the query", str(a and a.get("rewritten_query")) + p.stderr)
    if a and "rewrite" in a:
        print(f"LLM rewrite on loopback: {a['rewrite']['ms']:.1f} ms", file=sys.stderr)
    ab = bodies.get("rewrite", {}).get("messages", [{}, {"content": ""}])[1]["content"]
    t.check('<source id="1" title="VPN">' in ab and "Question: " + FOLLOW_UP in ab
            and "standing alone it asks: " + REWRITE in ab,
            "retrieval searched the rewrite (VPN first); the prompt shows both questions", ab[-400:])
    t.check(answered_by("rewrite", a), "the follow-up is answered by the LLM with its citation",
            str(a)[:300])
    p, a, _ = ask("ollama", kind="ollama", url=base, extra=["--history", lunch], question=FOLLOW_UP)
    t.check(p.returncode == 0 and a and a["rewrite"]["method"] == "llm"
            and a["rewritten_query"] == REWRITE and answered_by("ollama", a, "ollama"),
            "Ollama rewrites too", str(a and a.get("rewrite")) + p.stderr)

    # a failing rewrite: the plain rewrite, and the LLM still answers
    p, a, _ = ask("rewrite_fail", extra=["--history", vpn], question=FOLLOW_UP)
    t.check(p.returncode == 0 and a and a["rewrite"]["method"] == "plain-fallback"
            and "no rewrite for you" in a["rewrite"].get("fallback_reason", "")
            and a["rewritten_query"] == VPN_TALK[0]["content"] + " " + FOLLOW_UP,
            "a failed rewrite falls back to the plain rewrite", str(a and a.get("rewrite")))
    t.check(answered_by("rewrite_fail", a) and "could not rewrite" in p.stderr,
            "after a failed rewrite the answer still succeeds; stderr says why", p.stderr)
    p, a, took = ask("rewrite_stall", extra=["--history", vpn, "--llm-timeout", "2"],
                     question=FOLLOW_UP)
    t.check(p.returncode == 0 and a and a["rewrite"]["method"] == "plain-fallback"
            and 1.5 < a["rewrite"]["ms"] / 1000 < 4 and took < 5 and answered_by("rewrite_stall", a),
            "a stalled rewrite times out within --llm-timeout, then plain; the LLM answers",
            f"{took:.1f}s {a and a.get('rewrite')}")

    # bad invocations
    p = run(["ask", "--llm", base, QUESTION], data=data, timeout=CALL_TIMEOUT_S)
    t.check(p.returncode == 2, "--llm without --llm-model is refused", p.stderr)
    p = run(["ask", "--mode", "lexical", "--llm", "http://10.0.0.1:1/v1", "--llm-model", "m",
             QUESTION], data=data, timeout=CALL_TIMEOUT_S)
    t.check(p.returncode != 0 and "private" in p.stderr,
            "a private address needs --allow-private", p.stderr)
    srv.shutdown()
    t.done()


main()
