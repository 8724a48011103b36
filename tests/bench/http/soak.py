#!/usr/bin/env python3
"""Soak test of `ragd serve` (issue 6), driven by tests/bench/http/soak.sh.

Sends a fixed rate of mixed requests for a fixed time and watches the
server's resident memory:
  75%  POST /v1/search   {query, k: 10} (hybrid)
  20%  POST /v1/answer   {question} (the extractive answerer)
   5%  POST /v1/collections/soak/documents, JSON {source, title, text} of
       one or two paragraphs (one or two chunks to embed): a
       rotating pool of --pool sources, so after the first round every
       upload replaces a document (chunks deleted, new ones embedded and
       indexed, both indexes) and the collection keeps its size; a
       collection that grew without bound would make memory growth
       expected rather than a leak.
Requests are scheduled at exact times (request i at start + i / rate) and
sent by --clients threads over keep-alive connections; a request sent more
than a second late counts as lag (the client or server fell behind).

Memory: VmRSS of the server process every --sample seconds. Growth is the
median of the last minute over the median of the second minute (the first
is warm-up: query caches, SQLite pages, allocator arenas filling).

Gates (exit 1 when one fails): no error (every reply 2xx, no connection
error or timeout), the achieved rate within 5% of the target, resident
memory growth < 10%. Writes a JSON result (--json) and prints a summary.
"""
import argparse
import http.client
import json
import os
import random
import statistics
import sys
import threading
import time

WORDS = ("policy leave travel expense office network backup release review incident budget "
         "training security vpn laptop badge parking meeting schedule server database deploy "
         "rollback oncall escalation approval contract vendor invoice payroll benefits health "
         "remote onboarding account password certificate storage retention audit report").split()


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Soak:
    def __init__(self, a, queries):
        self.a = a
        self.queries = queries
        self.lock = threading.Lock()
        self.next_i = 0
        self.count = {"search": 0, "answer": 0, "upload": 0}
        self.errors = []
        self.lag = 0
        self.lat = {"search": [], "answer": [], "upload": []}
        self.t0 = 0.0
        self.n_total = int(a.rate * a.seconds)

    def request(self, i):
        kind = ("search",) * 15 + ("answer",) * 4 + ("upload",)
        k = kind[i % 20]
        if k == "search":
            return k, "/v1/search", {"query": self.queries[i % len(self.queries)], "k": 10}
        if k == "answer":
            return k, "/v1/answer", {"question": self.queries[(i * 7) % len(self.queries)]}
        j = i // 20
        rng = random.Random(i)
        text = "\n\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 60))) + "."
                           for _ in range(rng.randint(1, 2)))
        return k, "/v1/collections/soak/documents", {
            "source": f"soak-{j % self.a.pool}.md", "title": f"Soak note {j % self.a.pool}",
            "text": f"# Soak note {j}\n\n{text}\n"}

    def client(self):
        conn = http.client.HTTPConnection(self.a.host, self.a.port, timeout=30)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.a.key}"}
        while True:
            with self.lock:
                i = self.next_i
                self.next_i += 1
            if i >= self.n_total:
                break
            due = self.t0 + i / self.a.rate
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
            elif now - due > 1.0:
                with self.lock:
                    self.lag += 1
            kind, path, body = self.request(i)
            t = time.perf_counter()
            try:
                conn.request("POST", path, body=json.dumps(body), headers=headers)
                r = conn.getresponse()
                data = r.read()
                ok = 200 <= r.status < 300
                err = None if ok else f"{kind} {r.status}: {data[:200]!r}"
            except (OSError, http.client.HTTPException) as e:
                err = f"{kind}: {type(e).__name__}: {e}"
                conn.close()
                conn = http.client.HTTPConnection(self.a.host, self.a.port, timeout=30)
            ms = (time.perf_counter() - t) * 1e3
            with self.lock:
                self.count[kind] += 1
                self.lat[kind].append(ms)
                if err:
                    self.errors.append(err)
        conn.close()

    def run(self):
        samples = []
        self.t0 = time.perf_counter()
        th = [threading.Thread(target=self.client, daemon=True) for _ in range(self.a.clients)]
        for t in th:
            t.start()
        end = self.t0 + self.a.seconds
        next_sample = self.t0
        while any(t.is_alive() for t in th):
            now = time.perf_counter()
            if now >= next_sample:
                samples.append((now - self.t0, rss_kb(self.a.pid)))
                next_sample += self.a.sample
                if now < end + 5:
                    done = sum(self.count.values())
                    print(f"soak: {now - self.t0:6.0f} s  {done} requests  "
                          f"{len(self.errors)} errors  rss {samples[-1][1] / 1024:.1f} MB",
                          file=sys.stderr, flush=True)
            time.sleep(0.2)
        took = time.perf_counter() - self.t0
        samples.append((took, rss_kb(self.a.pid)))
        return took, samples


def window(samples, lo, hi):
    v = [kb for t, kb in samples if lo <= t < hi]
    return statistics.median(v) if v else None


def quantile(v, q):
    s = sorted(v)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))] if s else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--pid", type=int, required=True, help="the server's process id")
    ap.add_argument("--queries", required=True, help="corpus_queries.json or a file of lines")
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--pool", type=int, default=50)
    ap.add_argument("--sample", type=float, default=5.0)
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    if a.queries.endswith(".json"):
        queries = [q["query"] for q in json.load(open(a.queries))]
    else:
        queries = [l.strip() for l in open(a.queries) if l.strip()]
    s = Soak(a, queries)
    took, samples = s.run()
    total = sum(s.count.values())
    rate = total / took
    # the second minute against the last (shorter runs: second and last sixths)
    span = 60.0 if a.seconds >= 240 else a.seconds / 6
    base = window(samples, span, 2 * span)
    last = window(samples, a.seconds - span, a.seconds + 1)
    growth = (last / base - 1.0) if base and last else float("nan")
    result = {
        "target_rate": a.rate, "seconds": round(took, 1), "requests": total,
        "rate": round(rate, 2), "by_kind": s.count, "errors": len(s.errors),
        "first_errors": s.errors[:5], "late_requests": s.lag,
        "latency_ms": {k: {"p50": round(quantile(v, 0.5), 2), "p99": round(quantile(v, 0.99), 2)}
                       for k, v in s.lat.items()},
        "rss_mb": {"second_minute": round((base or 0) / 1024, 1),
                   "last_minute": round((last or 0) / 1024, 1),
                   "max": round(max(kb for _, kb in samples) / 1024, 1),
                   "growth": round(growth, 4)},
        "rss_samples_mb": [[round(t, 1), round(kb / 1024, 1)] for t, kb in samples],
    }
    gates = [("no errors", len(s.errors) == 0),
             (f"rate within 5% of {a.rate:g}/s ({rate:.1f})", rate >= 0.95 * a.rate),
             (f"resident memory growth < 10% ({growth * 100:+.1f}%)", growth < 0.10)]
    result["gates"] = {name: ok for name, ok in gates}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k != "rss_samples_mb"}, indent=1))
    for name, ok in gates:
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(ok for _, ok in gates) else 1


if __name__ == "__main__":
    sys.exit(main())
