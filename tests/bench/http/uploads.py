"""Upload latency of `ragd serve` on a large store (issue 6): how long one
upload of a short note takes when the collection already holds many
chunks, and how long the first search after a run of uploads takes.

It works on a copy of a data folder (SQLite's backup API and the vector
files, so the original, e.g. the retrieval benchmark's store, is left as
it is), starts `ragd serve --no-auth` on loopback with the given workers
and --save-interval, runs one search (which attaches the collection and,
for a copied file stamped behind the store, embeds what it lacks), then
--uploads uploads in a row, one at a time, then one hybrid search. Then
--rounds rounds of (upload one note, then search), the way a service
taking a steady stream of writes sees it, and as many searches with no
write between them: the ratio of their medians is what a write costs the
next search (the searcher catching up with it).

Printed: p50 / mean / max of the uploads, the first search after them,
the searches after a write against those without, and how long the
graceful stop took (it saves the vectors the workers have not saved yet),
also as one JSON line.

Usage: uploads.py DATA --ragd BIN --model DIR [--collection NAME]
                  [--uploads N] [--rounds N] [--workers N] [--save-interval S]
"""
import argparse
import http.client
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time


def copy_store(src, dst):
    """A consistent copy of src's store (backup API) and its vector files."""
    os.makedirs(os.path.join(dst, "vectors"))
    for name in os.listdir(os.path.join(src, "vectors")):
        if name.endswith(".rgv"):
            shutil.copy(os.path.join(src, "vectors", name), os.path.join(dst, "vectors", name))
    a = sqlite3.connect(f"file:{os.path.join(src, 'ragd.db')}?mode=ro", uri=True)
    b = sqlite3.connect(os.path.join(dst, "ragd.db"))
    a.backup(b)
    b.close()
    a.close()


def request(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request(method, path, json.dumps(body) if body is not None else None,
              {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data")
    ap.add_argument("--ragd", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--collection", default="default")
    ap.add_argument("--uploads", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--save-interval", default="30")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ragd-uploads-")
    try:
        copy_store(args.data, work)
        log = open(os.path.join(work, "serve.log"), "w")
        p = subprocess.Popen([args.ragd, "--data", work, "serve", "--listen", "127.0.0.1:0",
                              "--no-auth", "--quiet-requests", "--model", args.model,
                              "--workers", str(args.workers),
                              "--save-interval", args.save_interval],
                             stderr=subprocess.PIPE, text=True)
        port = None
        for line in p.stderr:
            log.write(line)
            if '"event":"listening"' in line:
                port = int(json.loads(line)["url"].rsplit(":", 1)[1])
                break
        if port is None:
            sys.exit("uploads: ragd serve did not start (see its log)")
        st, _ = request(port, "POST", "/v1/search", {"query": "warm up",
                                                     "collection": args.collection})
        if st != 200:
            sys.exit(f"uploads: the first search answered {st}")
        times = []
        for i in range(args.uploads):
            body = {"text": f"Upload note {i}: the quarterly badge audit found {i} expired "
                            f"cards at the visitor desk.", "title": f"note {i}",
                    "source": f"bench-upload-{i}.txt"}
            t = time.monotonic()
            st, data = request(port, "POST", f"/v1/collections/{args.collection}/documents", body)
            times.append(time.monotonic() - t)
            if st not in (200, 201):
                sys.exit(f"uploads: upload {i} answered {st}: {data[:300]!r}")
        t = time.monotonic()
        st, _ = request(port, "POST", "/v1/search", {"query": "badge audit expired cards",
                                                     "collection": args.collection})
        search_ms = (time.monotonic() - t) * 1000
        queries = ["expired badge cards", "visitor desk audit", "quarterly audit findings",
                   "badge audit at the desk"]

        def search(i):
            t = time.monotonic()
            st, data = request(port, "POST", "/v1/search",
                               {"query": queries[i % len(queries)], "collection": args.collection})
            if st != 200:
                sys.exit(f"uploads: a search answered {st}: {data[:300]!r}")
            return (time.monotonic() - t) * 1000

        after_write, steady = [], []
        for i in range(args.rounds):
            body = {"text": f"Round note {i}: the visitor desk reissued {i} badges.",
                    "title": f"round {i}", "source": f"bench-round-{i}.txt"}
            st, data = request(port, "POST", f"/v1/collections/{args.collection}/documents", body)
            if st not in (200, 201):
                sys.exit(f"uploads: round upload {i} answered {st}: {data[:300]!r}")
            after_write.append(search(i))
        for i in range(args.rounds):
            steady.append(search(i))
        t = time.monotonic()
        p.terminate()
        rest = p.communicate(timeout=600)[1]
        log.write(rest)
        stop_s = time.monotonic() - t
        out = {"uploads": args.uploads, "workers": args.workers,
               "save_interval": args.save_interval,
               "upload_p50_ms": round(statistics.median(times) * 1000, 1),
               "upload_mean_ms": round(statistics.mean(times) * 1000, 1),
               "upload_max_ms": round(max(times) * 1000, 1),
               "first_search_ms": round(search_ms, 1), "stop_s": round(stop_s, 2),
               "rounds": args.rounds,
               "search_after_write_p50_ms": round(statistics.median(after_write), 1),
               "search_after_write_max_ms": round(max(after_write), 1),
               "search_steady_p50_ms": round(statistics.median(steady), 1),
               "exit": p.returncode}
        out["after_write_over_steady"] = round(out["search_after_write_p50_ms"] /
                                               out["search_steady_p50_ms"], 1)
        print(f"uploads: {args.uploads} uploads, {args.workers} worker(s), save interval "
              f"{args.save_interval}: p50 {out['upload_p50_ms']} ms, mean "
              f"{out['upload_mean_ms']} ms, max {out['upload_max_ms']} ms; first search after "
              f"them {out['first_search_ms']} ms; stop {out['stop_s']} s", file=sys.stderr)
        print(f"uploads: {args.rounds} rounds of upload then search: search p50 "
              f"{out['search_after_write_p50_ms']} ms (max {out['search_after_write_max_ms']} ms) "
              f"against {out['search_steady_p50_ms']} ms with no write between: "
              f"{out['after_write_over_steady']}x", file=sys.stderr)
        print(json.dumps(out))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
