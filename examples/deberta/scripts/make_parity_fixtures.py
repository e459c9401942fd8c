"""Writes the DeBERTa-v2/v3 parity fixtures under tests/fixtures/parity/: tiny random models
made with Hugging Face transformers, saved as checkpoint directories (config.json +
model.safetensors), plus inputs with padding and the hidden states transformers computes for
them (expected.safetensors). The Rust test loads each directory and must match within 1e-4.

    pip install torch transformers safetensors
    python examples/deberta/scripts/make_parity_fixtures.py

Two models cover the configurations that change the attention:
- `bucketed`: DeBERTa-v3's layout (position_buckets 8, max_relative_positions 32, share_att_key,
  norm_rel_ebd layer_norm, no absolute positions, no token types), saved from a
  DebertaV2ForMaskedLM so its keys carry the `deberta.` prefix and a head the encoder ignores;
  `bucketed-bin` holds the same weights as `pytorch_model.bin`;
- `unbucketed`: position_buckets -1 (relative positions clipped at max_relative_positions 6),
  separate pos_key_proj / pos_query_proj, absolute position and token type embeddings, saved
  from a bare DebertaV2Model (no prefix).
"""

import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import DebertaV2Config, DebertaV2ForMaskedLM, DebertaV2Model

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "parity"

COMMON = dict(
    vocab_size=96,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    hidden_act="gelu",
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
    layer_norm_eps=1e-7,
    relative_attention=True,
    pos_att_type=["p2c", "c2p"],
    pad_token_id=0,
)

MODELS = {
    "bucketed": (
        DebertaV2ForMaskedLM,
        dict(
            max_position_embeddings=64,
            position_buckets=8,
            max_relative_positions=32,
            share_att_key=True,
            norm_rel_ebd="layer_norm",
            position_biased_input=False,
            type_vocab_size=0,
        ),
    ),
    "unbucketed": (
        DebertaV2Model,
        dict(
            max_position_embeddings=16,
            position_buckets=-1,
            max_relative_positions=6,
            share_att_key=False,
            norm_rel_ebd="none",
            position_biased_input=True,
            type_vocab_size=2,
        ),
    ),
}


def inputs(vocab_size, type_vocab_size):
    """Three sequences of 13 tokens, the last two padded (ids 0, mask 0)."""
    generator = torch.Generator().manual_seed(7)
    lengths = [13, 9, 4]
    ids = torch.randint(1, vocab_size, (3, 13), generator=generator)
    mask = torch.zeros(3, 13, dtype=torch.long)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
    ids = ids * mask
    types = torch.zeros_like(ids)
    if type_vocab_size > 1:
        types[:, 6:] = 1
        types = types * mask
    return ids, mask, types


def main():
    for name, (cls, extra) in MODELS.items():
        torch.manual_seed(0)
        config = DebertaV2Config(**COMMON, **extra)
        model = cls(config).eval()
        # Random LayerNorm affine terms and biases, so loading them wrong shows.
        with torch.no_grad():
            for key, p in model.named_parameters():
                if "LayerNorm" in key or key.endswith("bias"):
                    p.copy_(torch.randn_like(p) * 0.1 + (1.0 if key.endswith("weight") else 0.0))
        directory = OUT / name
        model.save_pretrained(directory, safe_serialization=True)
        encoder = model.deberta if hasattr(model, "deberta") else model
        ids, mask, types = inputs(config.vocab_size, config.type_vocab_size)
        with torch.no_grad():
            out = encoder(
                input_ids=ids,
                attention_mask=mask,
                token_type_ids=types,
                output_hidden_states=True,
            )
        tensors = {
            "input_ids": ids,
            "attention_mask": mask,
            "token_type_ids": types,
            "last_hidden_state": out.last_hidden_state.clone(),
        }
        for i, h in enumerate(out.hidden_states):
            tensors[f"hidden_states.{i}"] = h.clone()
        save_file(tensors, directory / "expected.safetensors")
        if name == "bucketed":
            # The same weights as a PyTorch pickle, the other format checkpoints ship in.
            pickled = OUT / "bucketed-bin"
            pickled.mkdir(parents=True, exist_ok=True)
            (pickled / "config.json").write_text((directory / "config.json").read_text())
            torch.save(model.state_dict(), pickled / "pytorch_model.bin")
        print(name, {k: list(v.shape) for k, v in tensors.items()})
        print(json.dumps({k: getattr(config, k) for k in ["position_buckets", "max_relative_positions", "share_att_key", "pos_att_type"]}))


if __name__ == "__main__":
    main()
