#!/usr/bin/env python3
"""Helpers of the HTTP benchmark (run through tests/bench/http/run.sh).

  prepare     builds the txtai index of the retrieval benchmark (tests/bench/
              retrieval/bench.py txtai_engine: content, hybrid BM25 + dense,
              faiss IDMap,HNSW32 with efSearch 64, from the precomputed passage
              vectors) once, saves it under --out/index and reuses it after
              that. The saved config is rewritten so that txtai's API embeds
              queries itself with sentence-transformers and the same model
              folder (the index is built with method "external", whose lookup
              function cannot be saved). Writes --out/reference.json (top ids
              of a few queries, searched in-process right after building) and
              --out/app.yml, the API's CONFIG.
  check       searches those queries through the API and compares the top ids
              with the in-process ones; exits 1 when they differ badly.
  ragd-check  one search through ragd's /v1/search with the key: k hits,
              hybrid (both legs run)?
  mix-queries writes the queries in one fixed shuffled order (seeded).
  port        prints a free loopback port.
  txtai-serve runs txtai's API (txtai.api:app, CONFIG from the environment)
              in --workers uvicorn processes, each on its own SO_REUSEPORT
              socket of --port, so that the kernel spreads connections over
              them. (`uvicorn --workers N` shares one socket, and one
              worker's accept loop can take all of wrk's connections at
              once: txtai then runs on one core.) Stops them on SIGTERM.
  cpu-snap    writes the machine's and every process's CPU time to a file;
  cpu-diff    from two snapshots: cores used by the server (a process and its
              descendants), by wrk (the calling shell's ended children), by
              interrupts and softirqs (loopback TCP) and by everything else,
              as JSON.
  report      prints the table and the gates, writes the result JSON.
"""
import argparse
import json
import os
import random
import signal
import socket
import sys
import time
import types
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK_QUERIES = 8


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def check_queries(corpus):
    qs = read_lines(os.path.join(corpus, "queries.txt"))
    step = max(1, len(qs) // CHECK_QUERIES)
    return qs[::step][:CHECK_QUERIES]


def prepare(args):
    args.out, args.model = os.path.abspath(args.out), os.path.abspath(args.model)
    index = os.path.join(args.out, "index")
    mark = os.path.join(args.out, "index.done")
    vec_path = os.path.join(args.corpus, "passages.f32")
    stamp = f"{os.path.getsize(vec_path)} {os.path.getmtime(vec_path):.0f}"
    os.makedirs(args.out, exist_ok=True)
    if not (os.path.exists(mark) and open(mark).read().strip() == stamp):
        sys.path.insert(0, os.path.join(HERE, "..", "retrieval"))
        import bench as rb  # the retrieval benchmark's txtai index, built the same way
        from sentence_transformers import SentenceTransformer
        texts = read_lines(os.path.join(args.corpus, "passages.txt"))
        vecs = rb.passage_vectors(types.SimpleNamespace(work=args.corpus),
                                     os.path.join(args.corpus, "ragd-data"), len(texts))
        st = SentenceTransformer(args.model, device="cpu")
        log(f"txtai: indexing {len(texts)} passages (precomputed vectors), saving to {index}")
        t = time.perf_counter()
        _, _, emb = rb.txtai_engine(types.SimpleNamespace(k=args.k), texts, vecs, st)
        log(f"txtai: indexed in {time.perf_counter() - t:.0f} s")
        qs = check_queries(args.corpus)
        ref = {"k": args.k, "queries": qs,
               "ids": [[r["id"] for r in emb.search(q, args.k)] for q in qs]}
        emb.save(index)
        with open(os.path.join(args.out, "reference.json"), "w", encoding="utf-8") as f:
            json.dump(ref, f, indent=1)
        with open(mark, "w") as f:
            f.write(stamp + "\n")
    # Queries embedded by txtai itself, with the same model (every run: the
    # model folder may have moved).
    cpath = os.path.join(index, "config.json")
    with open(cpath, encoding="utf-8") as f:
        config = json.load(f)
    config.pop("transform", None)
    config.update(method="sentence-transformers", path=args.model)
    with open(cpath, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    # YAML is a superset of JSON. "embeddings" enables the search routes; the
    # index at "path" is loaded as saved, read-only.
    with open(os.path.join(args.out, "app.yml"), "w", encoding="utf-8") as f:
        json.dump({"path": index, "writable": False, "embeddings": None}, f)
    print(os.path.join(args.out, "app.yml"))
    return 0


def check(args):
    with open(os.path.join(args.out, "reference.json"), encoding="utf-8") as f:
        ref = json.load(f)
    top1 = 0
    overlap = 0.0
    for q, want in zip(ref["queries"], ref["ids"]):
        url = f"{args.url}/search?query={urllib.parse.quote(q)}&limit={ref['k']}"
        with urllib.request.urlopen(url, timeout=60) as r:
            got = [str(h["id"]) for h in json.load(r)]
        top1 += bool(got and want and got[0] == want[0])
        overlap += len(set(got) & set(want)) / max(1, len(want))
    n = len(ref["queries"])
    overlap /= n
    ok = overlap >= 0.9 and top1 >= n - 1
    print(f"txtai check: {n} queries through HTTP /search vs in-process search: top-1 equal "
          f"{top1}/{n}, mean overlap@{ref['k']} {overlap:.2f} -> {'ok' if ok else 'DIFFERENT'}")
    return 0 if ok else 1


def ragd_check(args):
    q = read_lines(args.queries)[0]
    req = urllib.request.Request(f"{args.url}/v1/search",
                                 data=json.dumps({"query": q, "k": args.k}).encode(),
                                 headers={"Authorization": f"Bearer {args.key}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        body = json.load(r)
    hits, mode = body["results"], body.get("mode")
    # hybrid, as txtai's: a server without an encoder answers lexically
    ok = len(hits) == args.k and mode == "hybrid" and not body.get("dense_skipped")
    print(f"ragd check: {args.url} (auth on, read key) /v1/search: {len(hits)} hits for "
          f"k={args.k}, mode {mode}, dense skipped: {body.get('dense_skipped')} -> "
          f"{'ok' if ok else 'NOT a full hybrid search'}")
    return 0 if ok else 1


MIX_SEED = 2026


def mix_queries(args):
    qs = read_lines(args.src)
    random.Random(MIX_SEED).shuffle(qs)
    with open(args.dst, "w", encoding="utf-8") as f:
        f.write("".join(q + "\n" for q in qs))
    return 0


def free_port(_):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
    return 0


def txtai_serve(args):
    def listener():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(("127.0.0.1", args.port))
        s.listen(2048)
        return s

    kids = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:  # a worker: its own socket, then uvicorn (imported here, after the fork)
            import uvicorn
            sock = listener()
            uvicorn.Server(uvicorn.Config("txtai.api:app", log_level="info")).run(sockets=[sock])
            os._exit(0)
        kids.append(pid)

    def stop(*_):
        for k in kids:
            try:
                os.kill(k, signal.SIGTERM)
            except ProcessLookupError:
                pass
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    for k in kids:  # waitpid resumes by itself after the handler (PEP 475)
        _, st = os.waitpid(k, 0)
        status = status or int(os.waitstatus_to_exitcode(st) != 0)
    return status


def cpu_snap(args):
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    procs = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        rest = stat[stat.rindex(")") + 2:].split()
        procs[pid] = [comm, rest[1], int(rest[11]) + int(rest[12])]  # ppid, utime + stime
    # The calling shell's children that have ended (wrk, run in the foreground)
    rest = open(f"/proc/{os.getppid()}/stat").read().rsplit(")", 1)[1].split()
    with open(args.file, "w") as f:
        # idle and iowait are the 4th and 5th; steal and guests are left out
        json.dump({"time": time.monotonic(), "busy": sum(fields[:8]) - fields[3] - fields[4],
                   "irq": fields[5] + fields[6],
                   "procs": procs, "children": int(rest[13]) + int(rest[14])}, f)
    return 0


def cpu_diff(args):
    a, b = (json.load(open(p)) for p in (args.before, args.after))
    secs, hz = b["time"] - a["time"], os.sysconf("SC_CLK_TCK")
    cores = {pid: (v[2] - a["procs"].get(pid, [None, None, 0])[2]) / hz / secs
             for pid, v in b["procs"].items()}
    tree, grew = {str(args.server)}, True
    while grew:
        more = {pid for pid, v in b["procs"].items() if v[1] in tree} - tree
        tree |= more
        grew = bool(more)
    server = sum(cores[p] for p in tree if p in cores)
    # wrk ran in the foreground and has ended: the shell's reaped children
    wrk = (b["children"] - a["children"]) / hz / secs
    busy = (b["busy"] - a["busy"]) / hz / secs
    irq = (b["irq"] - a["irq"]) / hz / secs  # interrupts, softirqs (loopback TCP): no process's
    others = sorted(((c, b["procs"][p][0]) for p, c in cores.items()
                     if p not in tree and c >= 0.02), reverse=True)
    json.dump({"seconds": round(secs, 1), "cores_busy": round(busy, 2), "server": round(server, 2),
               "wrk": round(wrk, 2), "irq": round(irq, 2),
               "other": round(max(0.0, busy - server - wrk - irq), 2),
               "other_top": [[name, round(c, 2)] for c, name in others[:5]]}, sys.stdout)
    print()
    return 0


def report(args):
    def wrk_result(name):
        with open(os.path.join(args.work, f"wrk-{name}.txt"), encoding="utf-8") as f:
            line = [x for x in f if x.startswith("wrk-result ")][-1]
        x = json.loads(line.split(" ", 1)[1])
        with open(os.path.join(args.work, f"cpu-{name}.json"), encoding="utf-8") as f:
            x["cpu_cores"] = json.load(f)
        # wrk's status errors are >= 400; non_2xx counts every status outside 2xx
        x["errors_total"] = sum(x["errors"].values()) - x["errors"]["status"] + x["non_2xx"]
        return x
    r, t = wrk_result("ragd"), wrk_result("txtai")
    ratio = r["requests_per_s"] / t["requests_per_s"] if t["requests_per_s"] else float("inf")
    gates = {
        "ragd >= 300 req/s": r["requests_per_s"] >= 300,
        "ragd p99 <= 50 ms": r["p99_ms"] <= 50,
        "ragd zero errors": r["errors_total"] == 0,
        "ragd >= 10x txtai req/s": ratio >= 10,
    }
    print(f"\nHTTP bench: {args.chunks} passages, {args.queries} queries rotating "
          f"(order: {args.order}), k={args.k}; "
          f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s (after {args.warmup} s "
          f"warm-up); {args.workers} server workers each")
    print(f"{'server':31s} {'req/s':>8s} {'p50 ms':>8s} {'p90 ms':>8s} {'p99 ms':>8s} "
          f"{'errors':>6s} {'requests':>8s}  cores: server / wrk / irq / other")
    for name, x in (("ragd /v1/search (hybrid, auth)", r), ("txtai /search (hybrid, uvicorn)", t)):
        c = x["cpu_cores"]
        print(f"{name:31s} {x['requests_per_s']:8.1f} {x['p50_ms']:8.2f} {x['p90_ms']:8.2f} "
              f"{x['p99_ms']:8.2f} {x['errors_total']:6d} {x['requests']:8d}  "
              f"{c['server']:.2f} / {c['wrk']:.2f} / {c['irq']:.2f} / {c['other']:.2f}")
    print(f"throughput ratio ragd / txtai: {ratio:.1f}x")
    for g, ok in gates.items():
        print(f"gate {g}: {'PASS' if ok else 'FAIL'}")
    noisy = [n for n, x in (("ragd", r), ("txtai", t)) if x["cpu_cores"]["other"] > 0.15]
    for n in noisy:
        c = (r if n == "ragd" else t)["cpu_cores"]
        print(f"warning: other processes used {c['other']:.2f} cores during the {n} run "
              f"({', '.join(f'{a} {b}' for a, b in c['other_top']) or 'short-lived'}): "
              "its figures are not clean")
    out = {"passages": args.chunks, "queries": args.queries, "order": args.order, "k": args.k,
           "duration_s": args.duration, "connections": args.connections,
           "wrk_threads": args.threads, "warmup_s": args.warmup, "server_workers": args.workers,
           "ragd": dict(r, endpoint="POST /v1/search", mode="hybrid", auth="bearer read key"),
           "txtai": dict(t, endpoint="GET /search", mode="hybrid",
                         server="uvicorn txtai.api:app, one process per worker on SO_REUSEPORT sockets, OMP/MKL threads 1"),
           "ratio_rps": round(ratio, 2), "gates": gates, "gates_pass": all(gates.values()),
           "clean": not noisy}
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)
    print(f"written: {args.json}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--corpus", required=True, help="the retrieval benchmark's cN-wW folder")
    p.add_argument("--model", required=True, help="the sentence-transformers model folder")
    p.add_argument("--out", required=True)
    p.add_argument("--k", type=int, default=10)
    p.set_defaults(fn=prepare)
    c = sub.add_parser("check")
    c.add_argument("--url", required=True)
    c.add_argument("--out", required=True)
    c.set_defaults(fn=check)
    r = sub.add_parser("ragd-check")
    r.add_argument("--url", required=True)
    r.add_argument("--key", required=True)
    r.add_argument("--queries", required=True)
    r.add_argument("--k", type=int, default=10)
    r.set_defaults(fn=ragd_check)
    sub.add_parser("port").set_defaults(fn=free_port)
    c = sub.add_parser("txtai-serve")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--workers", type=int, required=True)
    c.set_defaults(fn=txtai_serve)
    c = sub.add_parser("cpu-snap")
    c.add_argument("file")
    c.set_defaults(fn=cpu_snap)
    c = sub.add_parser("cpu-diff")
    c.add_argument("before")
    c.add_argument("after")
    c.add_argument("--server", type=int, required=True)
    c.set_defaults(fn=cpu_diff)
    c = sub.add_parser("report")
    c.add_argument("--work", required=True)
    c.add_argument("--json", required=True)
    for name in ("chunks", "queries", "k", "duration", "connections", "threads", "warmup",
                 "workers"):
        c.add_argument(f"--{name}", type=int, required=True)
    c.add_argument("--order", choices=("mixed", "datasets"), required=True)
    c.set_defaults(fn=report)
    c = sub.add_parser("mix-queries")
    c.add_argument("src")
    c.add_argument("dst")
    c.set_defaults(fn=mix_queries)
    args = ap.parse_args()
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
