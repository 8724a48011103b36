#!/usr/bin/env python3
"""A small BERT with random weights beside a real sentence-transformers folder.

    scripts/small_model.py SRC DST [--hidden 32] [--heads 2] [--layers 2]

Copies SRC (a BERT sentence-transformers folder, e.g. all-MiniLM-L6-v2) to
DST with its tokenizer, vocabulary and pooling unchanged, and replaces the
encoder by one of the same architecture, hidden size --hidden, --layers
layers and an FFN four times as wide, with seeded random weights: every
tensor of SRC's model.safetensors keeps its name and dtype, its hidden and
FFN dimensions shrink, the layers past --layers go. The vectors mean
nothing, but ragd runs the very code paths the real model takes (WordPiece,
BERT forward, pooling) at a small fraction of the arithmetic. That is what
scripts/valgrind.sh --small-model needs: under memcheck the real encoder
runs tens of times slower, too slow for the tests that ingest with it.
Standard library only.
"""
import argparse
import array
import json
import os
import random
import re
import shutil
import struct
import sys


def read_header(f):
    """The JSON header of an open safetensors file, and where its data starts."""
    n = struct.unpack("<Q", f.read(8))[0]
    return json.loads(f.read(n)), 8 + n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20261130)
    a = ap.parse_args()
    if a.hidden % a.heads:
        ap.error("--hidden must be a multiple of --heads")
    with open(os.path.join(a.src, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("model_type") != "bert":
        sys.exit(f"small_model: {a.src} is not a BERT model (model_type {cfg.get('model_type')!r})")
    H, I = cfg["hidden_size"], cfg["intermediate_size"]
    h, i = a.hidden, 4 * a.hidden
    src_weights = open(os.path.join(a.src, "model.safetensors"), "rb")
    header, base = read_header(src_weights)

    if os.path.exists(a.dst):
        shutil.rmtree(a.dst)
    # everything but the two files written below (the weights are ~90 MB)
    top = os.path.abspath(a.src)
    shutil.copytree(a.src, a.dst, ignore=lambda d, names: {"model.safetensors", "config.json"}
                    if os.path.abspath(d) == top else set())
    cfg.update(hidden_size=h, intermediate_size=i, num_attention_heads=a.heads,
               num_hidden_layers=a.layers, _name_or_path="ragd small random BERT")
    with open(os.path.join(a.dst, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)

    rng = random.Random(a.seed)
    out_header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(k for k in header if k != "__metadata__"):
        t = header[name]
        m = re.match(r"encoder\.layer\.(\d+)\.", name)
        if m and int(m.group(1)) >= a.layers:
            continue
        shape = [h if d == H else i if d == I else d for d in t["shape"]]
        if t["dtype"] == "I64":  # position_ids: kept as they are
            lo, hi = t["data_offsets"]
            src_weights.seek(base + lo)
            blob = src_weights.read(hi - lo)
        elif t["dtype"] == "F32":
            n = 1
            for d in shape:
                n *= d
            if name.endswith("LayerNorm.weight"):
                vals = array.array("f", [1.0]) * n
            elif name.endswith(".bias"):
                vals = array.array("f", (rng.uniform(-0.02, 0.02) for _ in range(n)))
            else:  # wide enough that texts embed apart
                vals = array.array("f", (rng.gauss(0.0, 0.3) for _ in range(n)))
            if sys.byteorder != "little":
                vals.byteswap()
            blob = vals.tobytes()
        else:
            sys.exit(f"small_model: {name}: dtype {t['dtype']} not handled")
        out_header[name] = {"dtype": t["dtype"], "shape": shape,
                            "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    src_weights.close()
    raw = json.dumps(out_header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(os.path.join(a.dst, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)
    print(f"small_model: {a.dst}: hidden {h}, {a.heads} heads, {a.layers} layers, "
          f"FFN {i}, {offset / 1e6:.1f} MB of weights")


if __name__ == "__main__":
    main()
