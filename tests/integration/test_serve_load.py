"""A bounded load test of `ragd serve` on loopback: wrk (16 connections,
5 s) sends /v1/search requests with an API key, rotating through the corpus
questions (tests/bench/http/search.lua, the benchmark's script). Every
response must be a 2xx, no connection may fail, the server's request
counter must agree with wrk's, and the server must answer normally after.
Throughput is only reported here; tests/bench/http measures it at 100k
chunks beside txtai."""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SKIP, Checks, model_or_skip, corpus_and_queries, run, run_json, sanitized, source_root, tempdir  # noqa: E402
from serve_util import Server  # noqa: E402

if sanitized():
    print("SKIP: the load test runs in the optimised build only (the serve tests run "
          "every route under the sanitizers)")
    sys.exit(SKIP)
WRK = shutil.which("wrk")
if not WRK:
    print("SKIP: wrk is not installed (scripts/setup.sh installs it)")
    sys.exit(SKIP)
MODEL = model_or_skip()

SECONDS, CONNECTIONS, THREADS = 5, 16, 2
t = Checks("serve_load")
corpus, queries = corpus_and_queries()
data = tempdir()
p = run(["model", "import", MODEL], data=data)
t.check(p.returncode == 0, "model import", p.stderr)
p, s = run_json(["ingest", corpus], data=data)
t.check(p.returncode == 0 and s and s["failed"] == 0, "ingest the corpus", p.stderr)
p = run(["key", "create", "load", "--scope", "read,admin"], data=data)
key = p.stdout.strip()
t.check(p.returncode == 0 and key.startswith("rgk_"), "key create", p.stderr)
qfile = os.path.join(tempdir(), "queries.txt")
with open(qfile, "w") as f:
    f.write("\n".join(q["query"] for q in queries) + "\n")

srv = Server(data, "--quiet-requests", no_auth=False)
script = os.path.join(source_root(), "tests", "bench", "http", "search.lua")
p = subprocess.run([WRK, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--timeout", "10s",
                    "-s", script, f"http://127.0.0.1:{srv.port}", "--", "ragd", qfile, "10",
                    str(THREADS), key], capture_output=True, text=True, timeout=SECONDS + 60)
line = [l for l in p.stdout.splitlines() if l.startswith("wrk-result ")]
r = json.loads(line[0][len("wrk-result "):]) if line else None
t.check(p.returncode == 0 and r is not None, "wrk ran", p.stdout[-500:] + p.stderr[-500:])
if r:
    print(f"wrk: {r['requests']} requests in {r['duration_s']:.1f} s = {r['requests_per_s']:.0f}/s, "
          f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms "
          f"(corpus/, {CONNECTIONS} connections)", file=sys.stderr)
    errs = r["errors"]
    t.check(r["non_2xx"] == 0 and all(v == 0 for v in errs.values()),
            "every response is 2xx and no connection failed", str(errs))
    t.check(r["requests"] >= 50, "the server answered a real load", str(r["requests"]))
    st, _, _, payload = srv.request("GET", "/metrics", headers={"Authorization": "Bearer " + key})
    n = [l for l in payload.decode().splitlines() if l.startswith(
        'ragd_http_requests_total{method="POST",route="/v1/search",status="2xx"}')]
    served = int(n[0].split()[-1]) if n else -1
    # wrk counts the responses it read in time; the server may finish a few more
    t.check(r["requests"] <= served <= r["requests"] + CONNECTIONS,
            "the server's request counter agrees with wrk", f"{served} vs {r['requests']}")
st, _, o, _ = srv.request("POST", "/v1/search", {"query": queries[0]["query"]},
                          headers={"Authorization": "Bearer " + key})
t.check(st == 200 and o["results"], "the server answers normally after the load")
t.check(srv.stop() == 0, "the server stops cleanly")
t.done()
