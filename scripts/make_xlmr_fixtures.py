"""Builds the tiny XLM-R model and its parity fixtures (tests/fixtures/xlmr-tiny/).

No pretrained XLM-R weights can be had on the build machines, so this trains
a small SentencePiece Unigram model (nmt_nfkc normalisation, byte fallback)
on generated multilingual text, writes it as a tokenizer.json shaped like
the hub's XLM-R / multilingual-e5 / bge-m3 files (Precompiled charsmap,
Replace, Metaspace, <s> A </s>), and saves a randomly initialised
XLMRobertaModel (fixed seed) as a sentence-transformers folder with mean
pooling and Normalize. Reference outputs come from Hugging Face `tokenizers`
and PyTorch. Run through scripts/make_xlmr_fixtures.sh.

Outputs (binary formats as in tests/fixtures/encoder/README.md):
  model folder      config.json tokenizer.json model.safetensors modules.json
                    1_Pooling/config.json sentence_bert_config.json
  texts.bin         the test strings
  tokens.bin        ids of tokenizer.json (truncated to max_seq_length)
  embeddings.bin    mean-pooled, normalised PyTorch embeddings
  variants.json     pipeline variants on the same vocabulary: each object's
                    keys replace those of tokenizer.json ("byte_fallback"
                    sets the model's); tests build the variant the same way
  tokens-<v>.bin    ids of each variant, truncated to VARIANT_SEQ
"""
import argparse
import base64
import copy
import json
import os
import random
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_encoder_fixtures as enc  # noqa: E402  (shared test strings)

MAX_SEQ = 128
VARIANT_SEQ = 64
VOCAB = 1000
SEED = 20240611

# Strings aimed at the SentencePiece pipeline: NFKC folds, graphemes the
# Precompiled normalizer treats whole, the XLM-R special tokens, byte tokens.
SP_EXTRA = [
    "<s>", "</s>", "<mask>", "<unk>", "<pad",
    "Fill the <mask> here", "a <mask>b", "x<s>y</s>z", "<s> leading special",
    "literal byte token <0x41> and <0xE4>",
    "ｶﾞｷﾞｸﾞ ﾊﾟﾋﾟﾌﾟ halfwidth voiced", "ｱｲｳｴｵ", "①②③ ⑴⑵ ㈱ ㍿ ㌔ ℃ ℉ Ⅻ ⅷ",
    "x² x³ H₂O ½ ¼ ¾ ™ © ®", "ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ", "Ａｌｐｈａ　ｂｅｔａ",
    "line one\r\nline two\rline three\nline four", "\r\n", "a\r\nb",
    "e\u0301 a\u0300 o\u0308 n\u0303 — combining", "\u0301 lone combining mark",
    "1\ufe0f\u20e3 #\ufe0f\u20e3 keycaps", "\u2764\ufe0f \u263a\ufe0f \u270c\ufe0f",
    "👩‍💻 👨‍👩‍👧 🏳️‍🌈 🇰🇷🇨🇳🇹🇼", "👍🏻👍🏿 🙏🏽",
    "multiple     spaces    inside", "  leading and trailing  ", "tab\t\ttabs",
    "\u00a0nbsp\u00a0inside\u00a0", "ideographic\u3000space", "zero\u200bwidth\u200cjoin\u200d",
    "soft\u00adhyphen", "\ufeffBOM first", "control \x01\x02\x1f chars",
    "▁already▁has▁metaspace", "▁", "▁▁", " ▁ ",
    "한국어 자모: 한 글", "㈜ 한글 ㉠㉡", "ＡＢＣｄｅｆ１２３",
    "中文，标点。「引号」『书名』？！", "日本語の句読点、。・ー〜",
    "繁體字與簡體字：學習/学习，愛/爱，國/国", "粵語：佢哋喺度食緊飯",
    "Ελληνικά ΣΊΣΥΦΟΣ σίσυφος", "Русский текст ЁЖИК ёжик", "İIıi ǅǈǋ",
    "ß ẞ ŉ ǰ ΐ ΰ և ﬓ", "Ω Å K µ", "ﬀoo ﬁle", "…‥ ‼ ⁇ ⁈",
    "https://例え.jp/パス?クエリ=値#断片", "user@例子.公司", "C++ std::vector<int> v{1,2,3};",
    "λx.x → ∀y∃z: y≠z", "😀" * 40, "あ" * 300, "한" * 200, "中" * 260,
]

TRAIN_EXTRA = [
    "Search engines rank documents by relevance to a query.",
    "Embeddings map sentences to vectors in a shared space.",
    "The library opens at nine and closes at six on weekdays.",
    "多语言检索需要处理中文、日文和韩文。", "這是一個繁體中文的例子，用於訓練分詞器。",
    "日本語のテキストをトークン化する実験です。", "ひらがな、カタカナ、漢字が混ざっています。",
    "한국어 문장을 토큰으로 나누는 실험입니다.", "서울과 부산은 큰 도시입니다.",
    "Les élèves étudient à l'école française.", "Der Straßenbahnfahrer fährt schnell.",
    "El niño pequeño juega en el jardín.", "Português: ação, coração, não.",
]


def corpus_lines(rng):
    base = (enc.ENGLISH + enc.CHINESE_TRAD + enc.CHINESE_SIMP + enc.JAPANESE + enc.KOREAN +
            enc.ACCENTS + enc.URLS_CODE + TRAIN_EXTRA)
    words = [w for line in base for w in line.split()]
    lines = list(base) * 20
    for _ in range(3000):
        lines.append(" ".join(rng.choice(words) for _ in range(rng.randint(3, 20))))
    return lines


def make_texts(rng):
    texts = enc.make_texts() + SP_EXTRA
    base = enc.ENGLISH + enc.MIXED + SP_EXTRA[:60]
    while len(texts) < 340:
        texts.append(rng.choice(base) + rng.choice(["", " ", "  ", "\n"]) + rng.choice(base))
    return texts


def train_spm(workdir, rng):
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb

    corpus = os.path.join(workdir, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        for line in corpus_lines(rng):
            f.write(line.replace("\n", " ") + "\n")
    prefix = os.path.join(workdir, "sp")
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=prefix, model_type="unigram", vocab_size=VOCAB,
        character_coverage=0.995, byte_fallback=True, normalization_rule_name="nmt_nfkc",
        hard_vocab_limit=False, seed_sentencepiece_size=100000, num_threads=1,
        minloglevel=2)
    proto = pb.ModelProto()
    with open(prefix + ".model", "rb") as f:
        proto.ParseFromString(f.read())
    return proto


def tokenizer_json(proto):
    """The hub layout of XLM-R's tokenizer.json: fairseq ids 0-3, <mask> last."""
    vocab = [["<s>", 0.0], ["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0]]
    vocab += [[p.piece, float(p.score)] for p in proto.pieces[3:]]
    vocab.append(["<mask>", 0.0])
    mask_id = len(vocab) - 1

    def added(i, s, lstrip=False):
        return {"id": i, "content": s, "single_word": False, "lstrip": lstrip, "rstrip": False,
                "normalized": False, "special": True}

    charsmap = base64.b64encode(proto.normalizer_spec.precompiled_charsmap).decode()
    meta = {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True,
            "prepend_scheme": "always"}
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(0, "<s>"), added(1, "<pad>"), added(2, "</s>"), added(3, "<unk>"),
                         added(mask_id, "<mask>", lstrip=True)],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled", "precompiled_charsmap": charsmap},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
        "pre_tokenizer": meta,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "</s>", "type_id": 0}},
                     {"SpecialToken": {"id": "</s>", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}},
                     {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
                               "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}},
        "decoder": dict(meta),
        "model": {"type": "Unigram", "unk_id": 3, "vocab": vocab, "byte_fallback": True},
    }


def variants():
    """Other pipeline settings that models in the wild use, as patches of tokenizer.json."""
    return {
        "nofallback": {"byte_fallback": False},
        "nfkc": {
            "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "NFKC"}, {"type": "Lowercase"},
                {"type": "Strip", "strip_left": True, "strip_right": True},
                {"type": "Replace", "pattern": {"String": "  "}, "content": "\u2581"}]},
            "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581",
                              "prepend_scheme": "first", "split": False},
            "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0],
                               "trim_offsets": True, "add_prefix_space": True}},
        "noprefix": {
            "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581",
                              "add_prefix_space": False, "prepend_scheme": "never", "split": True}},
    }


def apply_variant(tj, patch):
    v = copy.deepcopy(tj)
    for key, value in patch.items():
        if key == "byte_fallback":
            v["model"]["byte_fallback"] = value
        else:
            v[key] = value
    return v


def write_texts(path, texts):
    with open(path, "wb") as f:
        f.write(b"RGTX" + struct.pack("<I", len(texts)))
        for t in texts:
            b = t.encode("utf-8")
            f.write(struct.pack("<I", len(b)) + b)


def write_tokens(path, tok, texts, max_len=MAX_SEQ):
    tok.no_padding()
    tok.no_truncation()
    full = [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)]
    tok.enable_truncation(max_len)
    with open(path, "wb") as f:
        f.write(b"RGTK" + struct.pack("<II", len(texts), max_len))
        for t, n in zip(texts, full):
            ids = tok.encode(t).ids
            f.write(struct.pack("<II", n, len(ids)) + struct.pack("<%dI" % len(ids), *ids))
    return full


def build_model(out, vocab_size):
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    torch.manual_seed(SEED)
    cfg = XLMRobertaConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=64,
                           max_position_embeddings=MAX_SEQ + 2, type_vocab_size=1,
                           pad_token_id=1, bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5,
                           hidden_act="gelu")
    model = XLMRobertaModel(cfg, add_pooling_layer=False).eval()
    # the default init (std 0.02, LayerNorm 1/0) makes every text embed alike;
    # wider weights and random LayerNorm parameters make the parity check bite
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif "LayerNorm.bias" in name or name.endswith(".bias"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(0.3 * torch.randn_like(p))
    model.save_pretrained(out, safe_serialization=True)
    return model


def embed(model, tok, texts):
    import torch

    tok.enable_truncation(MAX_SEQ)
    tok.no_padding()
    rows = []
    with torch.no_grad():
        for i in range(0, len(texts), 16):
            encs = tok.encode_batch(texts[i:i + 16])
            L = max(len(e.ids) for e in encs)
            ids = torch.full((len(encs), L), 1, dtype=torch.long)
            mask = torch.zeros((len(encs), L), dtype=torch.long)
            for r, e in enumerate(encs):
                ids[r, :len(e.ids)] = torch.tensor(e.ids)
                mask[r, :len(e.ids)] = 1
            h = model(input_ids=ids, attention_mask=mask).last_hidden_state
            m = mask.unsqueeze(-1).float()
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            rows.append(torch.nn.functional.normalize(pooled, p=2, dim=1))
    return torch.cat(rows).numpy().astype("<f4")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    import tokenizers
    import torch
    import transformers

    torch.set_num_threads(1)
    rng = random.Random(SEED)
    os.makedirs(os.path.join(args.out, "1_Pooling"), exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        proto = train_spm(tmp, rng)
    tj = tokenizer_json(proto)
    with open(os.path.join(args.out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)
    texts = make_texts(rng)
    write_texts(os.path.join(args.out, "texts.bin"), texts)
    tok = tokenizers.Tokenizer.from_file(os.path.join(args.out, "tokenizer.json"))
    full = write_tokens(os.path.join(args.out, "tokens.bin"), tok, texts)
    with open(os.path.join(args.out, "variants.json"), "w", encoding="utf-8") as f:
        json.dump(variants(), f, ensure_ascii=False, indent=1)
    for name, patch in variants().items():
        vt = tokenizers.Tokenizer.from_str(json.dumps(apply_variant(tj, patch)))
        write_tokens(os.path.join(args.out, "tokens-%s.bin" % name), vt, texts, VARIANT_SEQ)

    model = build_model(args.out, len(tj["model"]["vocab"]))
    with open(os.path.join(args.out, "modules.json"), "w") as f:
        json.dump([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ], f, indent=2)
    with open(os.path.join(args.out, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": 32, "pooling_mode_cls_token": False,
                   "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
                   "pooling_mode_mean_sqrt_len_tokens": False}, f, indent=2)
    with open(os.path.join(args.out, "sentence_bert_config.json"), "w") as f:
        json.dump({"max_seq_length": MAX_SEQ, "do_lower_case": False}, f, indent=2)

    emb = embed(model, tok, texts)
    with open(os.path.join(args.out, "embeddings.bin"), "wb") as f:
        f.write(b"RGEM" + struct.pack("<II", emb.shape[0], emb.shape[1]))
        f.write(emb.tobytes())
    byte_ids = sum(1 for e in tok.encode_batch(texts) for i in e.ids if 4 <= i < 4 + 256)
    print("texts %d (%d past %d tokens), vocab %d, byte-fallback ids %d; tokenizers %s, "
          "transformers %s, torch %s" % (len(texts), sum(n + 2 > MAX_SEQ for n in full), MAX_SEQ,
                                         len(tj["model"]["vocab"]), byte_ids, tokenizers.__version__,
                                         transformers.__version__, torch.__version__), file=sys.stderr)


if __name__ == "__main__":
    main()
