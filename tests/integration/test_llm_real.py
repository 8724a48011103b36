"""ragd's LLM generator end to end against a real small LLM on loopback:
llama-cpp-python's OpenAI-compatible server running SmolLM2-135M-Instruct
(scripts/setup-llm.sh installs both; without them the test skips). A 135M
model's answers are weak, so nothing here reads their wording: the checks
are on the protocol, the answer's structure and its invariants. Streamed
pieces against the checked text, citations against what was retrieved,
refusals that never reach the LLM, prompts that fit the model's context
window (--llm-context), the fallback when one does not, and
`ragd eval --answers` through the LLM."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SKIP, Checks, model_or_skip, one_error_line, run, run_json, sanitized, source_root, tempdir  # noqa: E402
from llm_server import free_port, llm_server, llm_unavailable  # noqa: E402
from serve_util import Server  # noqa: E402

if sanitized():
    print("SKIP: the real-LLM test runs in the optimised build only "
          "(test_llm_protocol drives the generator under the sanitizers)")
    sys.exit(SKIP)
why = llm_unavailable()
if why:
    print("SKIP: " + why)
    sys.exit(SKIP)
MODEL = model_or_skip()

N_CTX = 2048        # the server's context window
MAX_TOKENS = 64     # answer tokens asked for: short answers keep the test quick
TEMPLATE = 64       # CLI_LLM_TEMPLATE_TOKENS (api/cli_util.h)
# Every ragd call is bounded; generation on two busy cores takes seconds.
CALL_TIMEOUT_S = 240
QUESTION = "which UDP port does the VPN connect on"
QUESTION_ZH = "年資滿3年特休有幾天"
ABSENT = "what is the capital of France"  # refused: similarity 0.2 < 0.35 (test_ask.py)

# A citation marker as engine/rag/text.c reads one ("[1]", "[1, 3]", "[2-4]",
# "【2】"), or a little more: stripping with it treats both texts alike.
NUM = r"[0-9\uff10-\uff19]+"
SEP = r"[,\uff0c\u3001;\uff1b\-\u2013\u2014\uff0d~\uff5e]"
MARKER = re.compile(r"[\[\u3010\uff3b][ \t\u3000]*" + NUM + r"(?:[ \t\u3000]*" + SEP +
                    r"[ \t\u3000]*" + NUM + r")*[ \t\u3000]*[\]\u3011\uff3d]")


def marker_numbers(text):
    """The source numbers that the markers of text cite."""
    nums = set()
    for m in MARKER.finditer(text):
        inner = m.group(0)[1:-1].translate({0xff10 + i: str(i) for i in range(10)})
        for part in re.split(r"[,\uff0c\u3001;\uff1b]", inner):
            ends = [int(x) for x in re.findall(r"\d+", part)]
            nums.update(range(ends[0], ends[-1] + 1) if len(ends) == 2 else ends)
    return nums


def bare(text):
    """text without citation markers or white space."""
    return re.sub(r"\s+", "", MARKER.sub("", text))


def main():
    t = Checks("llm_real")
    data = tempdir()
    p = run(["model", "import", MODEL], data=data)
    t.check(p.returncode == 0, "model import", p.stderr)
    p, s = run_json(["ingest", os.path.join(source_root(), "corpus")], data=data)
    if not t.check(p.returncode == 0 and s and s["failed"] == 0, "ingest corpus/", p.stderr):
        t.done()

    def retrieved(question, k):
        """What `ask` retrieves for question: the same search, by chunk id."""
        p, r = run_json(["search", "-k", str(k), question], data=data)
        return {h["chunk_id"]: h for h in (r or {}).get("results", [])}

    with llm_server(n_ctx=N_CTX) as srv:
        llm = ["--llm", srv.base_url, "--llm-model", srv.model, "--llm-max-tokens",
               str(MAX_TOKENS)]

        def ask(args, json_out=True):
            return run((["--json"] if json_out else []) + ["ask"] + llm + args, data=data,
                       timeout=CALL_TIMEOUT_S)

        def answered(a, what):
            """The LLM answered: generator, model, no fallback, no refusal."""
            return t.check(a is not None and a["generator"] == "openai" and a["model"] == srv.model
                           and a["fallback"] is False and a["refused"] is False
                           and a["answer"].strip() != "", what,
                           json.dumps(a, ensure_ascii=False)[:600] if a else "no JSON")

        def check_structure(a, question, k, what):
            """Invariants of a checked answer from the LLM."""
            text = a["answer"].encode()
            sents, cites = a["sentences"], a["citations"]
            hits = list(retrieved(question, k).values())[:a["prompt"]["sources"]]
            by_id = {h["chunk_id"]: h for h in hits}
            t.check(1 <= a["prompt"]["sources"] <= k and a["prompt"]["tokens"] > 0,
                    f"{what}: the prompt carried 1..{k} sources", str(a["prompt"]))
            t.check(0 <= a["supported_share"] <= 1 and abs(a["supported_share"] - (
                sum(x["support"] == "supported" for x in sents) / len(sents) if sents else 1)) < 1e-9,
                f"{what}: supported_share is the share of supported sentences",
                f"{a['supported_share']} {sents}")
            t.check(a["timings_ms"]["generate"] > 0 and
                    a["timings_ms"]["total"] >= a["timings_ms"]["generate"],
                    f"{what}: generation was timed", str(a["timings_ms"]))
            bad = []
            for x in sents:
                span = text[x["start"]:x["end"]].decode(errors="replace")
                if not 0 <= x["start"] < x["end"] <= len(text):
                    bad.append(("span", x))
                elif (x["support"] == "uncited") != (not marker_numbers(span)):
                    bad.append(("uncited iff no marker", span, x["support"]))
            t.check(sents and not bad, f"{what}: sentence spans and support labels", str(bad)[:600])
            n = len(cites)
            t.check([c["number"] for c in cites] == list(range(1, n + 1)),
                    f"{what}: citations numbered 1..n", str([c["number"] for c in cites]))
            t.check(marker_numbers(a["answer"]) == set(range(1, n + 1)),
                    f"{what}: the text's markers are exactly the citations",
                    f"{sorted(marker_numbers(a['answer']))} vs {n}")
            bad = []
            for c in cites:
                h = by_id.get(c["chunk_id"])
                if not h or h["document_id"] != c["document_id"] or h["source"] != c["source"]:
                    bad.append(("not a retrieved source", c["chunk_id"]))
                elif not (0 <= c["byte_start"] < c["byte_end"]) or \
                        (c["byte_start"], c["byte_end"]) != (h["byte_start"], h["byte_end"]):
                    bad.append(("span", c["byte_start"], c["byte_end"]))
                elif not c["passage"] or c["passage"] not in h["text"]:
                    bad.append(("passage not in the chunk", c["passage"][:80]))
            t.check(not bad, f"{what}: every citation is a retrieved chunk holding its passage",
                    str(bad))
            print(f"{what}: {len(sents)} sentences, {n} citations, supported share "
                  f"{a['supported_share']:.2f}, {a['prompt']['sources']} sources "
                  f"({a['prompt']['tokens']} tokens counted), generate "
                  f"{a['timings_ms']['generate']:.0f} ms", file=sys.stderr)

        # 1. A cited answer, as JSON
        calls = srv.completions()
        p = ask([QUESTION])
        a = json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else None
        if answered(a, "ask --json: the LLM answers") and \
                t.check(srv.completions() == calls + 1, "one chat completion request"):
            check_structure(a, QUESTION, 5, "ask --json")

        # 2. --stream --json: the pieces as they came, then the checked answer.
        # The check renumbers markers by first use and drops those that point
        # at no source (citations.h): the text around them is what was streamed.
        p = ask(["--stream", QUESTION])
        lines = [json.loads(x) for x in p.stdout.splitlines() if x.strip()] \
            if p.returncode == 0 else []
        tokens = [x for x in lines[:-1] if set(x) == {"token"}]
        final = lines[-1] if lines else None
        t.check(len(lines) >= 2 and len(tokens) == len(lines) - 1 and "answer" in final,
                "--stream --json: token lines, then one answer object", p.stdout[:400] + p.stderr)
        if answered(final, "--stream: the LLM answers"):
            streamed = "".join(x["token"] for x in tokens)
            t.check(bare(streamed) == bare(final["answer"]) and bare(streamed),
                    "--stream: the pieces concatenated are the answer, markers aside",
                    f"streamed {streamed!r}\n     answer   {final['answer']!r}")
            t.check(len(marker_numbers(streamed)) >= len(final["citations"]),
                    "--stream: every citation was a marker in the stream")
            check_structure(final, QUESTION, 5, "ask --stream --json")

        # 3. Text: labelled as AI-generated (not as extracted), with numbered
        # sources when the model cited any, else the note that it did not.
        p = ask([QUESTION], json_out=False)
        out = p.stdout
        head, _, rest = out.partition("\n")
        body = rest.split("\n\nSources:\n")[0]
        sources = re.findall(r"^\[(\d+)\] .*\n    (.+)$", out, re.M)
        ok = p.returncode == 0 and head == "Answer (AI-generated):" and body.strip()
        if "\nSources:\n" in out:
            ok = ok and [int(n) for n, _ in sources] == list(range(1, len(sources) + 1)) \
                and all(os.path.isfile(path) for _, path in sources) \
                and marker_numbers(body) <= set(range(1, len(sources) + 1))
        else:
            ok = ok and not marker_numbers(body) and re.search(
                r"\nNote: (\d+) of \1 sentences are not supported", out)
        t.check(ok, "text output: labelled AI-generated, numbered sources or the note",
                out[:1500] + p.stderr)

        # 4. Refused before generation: the LLM is never called
        calls = srv.completions()
        p = ask([ABSENT])
        a = json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else None
        t.check(a is not None and a["refused"] and not a["citations"] and not a["fallback"]
                and a["timings_ms"]["generate"] == 0 and a["prompt"]["sources"] == 0,
                "a question the documents cannot answer is refused", p.stdout[:600] + p.stderr)
        t.check(srv.completions() == calls, "the refusal sent no request to the LLM",
                f"{srv.completions() - calls} requests")

        # 5. The context window. Twenty sources fill ragd's default prompt
        # budget (3000 tokens), more than the server's 2048: it refuses the
        # prompt and ragd falls back to the extractive answer.
        calls = srv.completions()
        p = ask(["-k", "20", QUESTION])
        a = json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else None
        t.check(a is not None and a["fallback"] is True and a["generator"] == "extractive"
                and a["fallback_reason"] and not a["refused"] and a["citations"],
                "a prompt longer than the context window: the extractive fallback",
                p.stdout[:600] + p.stderr)
        t.check(srv.completions() == calls + 1 and "context window" in srv.log_tail(200),
                "... because the server refused the prompt's length", srv.log_tail(10))
        t.check("ragd: warning: the LLM failed" in p.stderr, "... which stderr reports", p.stderr)
        overflow_sources = a["prompt"]["sources"] if a else 20
        p = ask(["-k", "20", QUESTION], json_out=False)
        t.check(p.returncode == 0 and p.stdout.startswith(
            "Answer (AI-generated, extracted from the documents):\n")
            and re.search(r"\nSources:\n\[1\] .*\n    \S", p.stdout),
            "the fallback's text output lists numbered sources", p.stdout[:800])

        # --llm-context: the prompt gets what the answer and the template leave,
        # so the same question is answered from fewer sources
        budget = N_CTX - MAX_TOKENS - TEMPLATE
        p = ask(["-k", "20", "--llm-context", str(N_CTX), QUESTION])
        a = json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else None
        if answered(a, "--llm-context 2048: the LLM answers, no fallback"):
            t.check(1 <= a["prompt"]["sources"] < overflow_sources
                    and a["prompt"]["tokens"] <= budget,
                    f"... from fewer sources, within {budget} counted tokens", str(a["prompt"]))
            check_structure(a, QUESTION, 20, "ask -k 20 --llm-context 2048")
        # a Chinese question costs SmolLM2 ~1.8 tokens per counted one
        p = ask(["--llm-context", str(N_CTX), QUESTION_ZH])
        a = json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else None
        answered(a, "--llm-context 2048, a Chinese question: the LLM answers, no fallback")

        for args, what in ((["--llm-context", "300"], "a window with no room for the prompt"),
                           (["--llm-context", "many"], "a window that is not a number"),
                           (["--llm-max-tokens", "0"], "zero answer tokens")):
            p = ask(args + [QUESTION])
            t.check(p.returncode == 2 and one_error_line(p.stderr) and args[0] in p.stderr,
                    f"{args[0]} {args[1]}: {what} is a usage error", p.stderr)
        p = run(["ask", "--llm-context", "4096", QUESTION], data=data)
        t.check(p.returncode == 2 and one_error_line(p.stderr), "--llm-context needs --llm",
                p.stderr)

        # 6. eval --answers through the LLM, on a few questions of a dataset
        base = os.environ.get("RAGD_DATASETS") or os.path.join(source_root(), "..", "shared",
                                                               "datasets")
        ds = os.path.join(base, "cmrc2018")
        if not os.path.isdir(ds):
            print(f"skipped eval --answers --llm: no dataset at {ds}", file=sys.stderr)
        else:
            limit = 3
            calls = srv.completions()
            p, r = run_json(["eval", "--dataset", ds, "--answers", "--mode", "lexical", "--limit",
                             str(limit), "--llm-context", str(N_CTX)] + llm,
                            timeout=CALL_TIMEOUT_S * limit)
            ok = t.check(p.returncode == 0 and r is not None, "eval --answers --llm runs",
                         p.stderr[-2000:])
            if ok:
                def share(x):
                    return x is None or 0 <= x <= 1
                t.check(r["generator"] == "openai" and r["model"] == srv.model
                        and r["fallbacks"] == 0, "eval: the LLM gave every answer", str(r)[:400])
                t.check(r["questions"] == limit and r["answerable"] == limit
                        and r["with_gold"] == limit and srv.completions() - calls == limit,
                        f"eval: {limit} questions, one request each",
                        f"{r['questions']} {srv.completions() - calls}")
                t.check(share(r["gold_share"]) and share(r["citation_precision"])
                        and share(r["refused_answerable"]) and r["generate_p50_ms"] > 0
                        and r["retrieve_p50_ms"] >= 0 and r["overhead_p50_ms"] >= 0,
                        "eval: shares in [0, 1], times measured", str(r)[:600])
                print(f"eval cmrc2018 --limit {limit} through {r['model']}: gold "
                      f"{r['gold_share']:.4f}, citation precision {r['citation_precision']}, "
                      f"refused {r['refused_answerable']:.4f}, generate p50 "
                      f"{r['generate_p50_ms']:.0f} ms", file=sys.stderr)
            # a server that is not there: the answers are extracted, and counted
            dead = ["--llm", f"http://127.0.0.1:{free_port()}/v1", "--llm-model", srv.model]
            p, r = run_json(["eval", "--dataset", ds, "--answers", "--mode", "lexical", "--limit",
                             "1"] + dead, timeout=CALL_TIMEOUT_S)
            t.check(p.returncode == 0 and r and r["generator"] == "openai" and r["fallbacks"] == 1
                    and "LLM failed on 1 of 1 questions" in p.stderr,
                    "eval: an answer the LLM failed to give is a counted fallback",
                    str(r)[:300] + p.stderr[-500:])
            p = run(["eval", "--dataset", ds] + llm, timeout=CALL_TIMEOUT_S)
            t.check(p.returncode == 2 and one_error_line(p.stderr), "eval: --llm needs --answers",
                    p.stderr)
        # ---- ragd serve with the LLM: the OpenAI client against ragd against llama.cpp ----
        try:
            import openai
        except ImportError:
            openai = None
        if openai is not None:
            server = Server(data, *llm, "--llm-context", str(N_CTX))
            client = openai.OpenAI(base_url=f"http://127.0.0.1:{server.port}/v1",
                                   api_key="unused", timeout=CALL_TIMEOUT_S, max_retries=0)
            calls = srv.completions()
            r = client.chat.completions.create(model="ragd", messages=[
                {"role": "user", "content": QUESTION}])
            extra = r.model_extra or {}
            t.check(extra.get("ragd", {}).get("generator") == "openai" and
                    not extra["ragd"]["fallback"] and r.choices[0].message.content.strip() and
                    srv.completions() - calls == 1,
                    "serve: a chat completion is written by the LLM, one request",
                    str(extra)[:400])
            calls = srv.completions()
            parts, last = [], None
            for chunk in client.chat.completions.create(model="ragd", stream=True, messages=[
                    {"role": "user", "content": QUESTION}]):
                if chunk.choices and chunk.choices[0].delta.content:
                    parts.append(chunk.choices[0].delta.content)
                last = chunk
            lx = (last.model_extra or {}) if last else {}
            t.check(len(parts) > 1 and lx.get("ragd", {}).get("generator") == "openai" and
                    bare("".join(parts)) == bare(lx["ragd"]["answer"]),
                    "serve: the LLM's answer streams in pieces that add up to the checked text",
                    f"{len(parts)} pieces; {str(lx)[:300]}")
            calls = srv.completions()
            r = client.chat.completions.create(model="ragd", messages=[
                {"role": "user", "content": "Which VPN client do we use?"},
                {"role": "assistant", "content": "WireGuard."},
                {"role": "user", "content": "Which port does it connect on?"}])
            extra = (r.model_extra or {}).get("ragd", {})
            # the rewrite is the LLM's first request; what a 135M model makes of it varies
            # (its query may be refused, or cleaned away into the plain rewrite)
            t.check(srv.completions() - calls >= 1 and extra.get("rewritten_query") and
                    extra.get("rewrite") in ("llm", "plain-fallback") and
                    (srv.completions() - calls == 2) == (not extra["refused"]),
                    "serve: a follow-up goes to the LLM to be rewritten, then answered or refused",
                    f"{srv.completions() - calls} requests; {str(extra)[:300]}")
            st, _, _, payload = server.request("GET", "/metrics")
            m = [l for l in payload.decode().splitlines() if l.startswith("ragd_llm_answers_total")]
            t.check(st == 200 and m and int(m[0].split()[-1]) >= 2,
                    "serve: /metrics counts the LLM's answers", str(m))
            t.check(server.stop() == 0, "serve: stops cleanly")
    t.done()


main()
