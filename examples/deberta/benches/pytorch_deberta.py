"""PyTorch baseline for `cargo bench -p deberta --bench training_step`: the same classifier
(DebertaV2Model at xsmall's sizes, mean pooling, one logit, BCE-with-logits, AdamW) on the same
batch shape, CPU threads fixed.

    python examples/deberta/benches/pytorch_deberta.py [--layers 12] [--batch 8] [--seq 512]
        [--steps 3] [--threads 2]
"""
import argparse
import statistics
import time

import torch
from transformers import DebertaV2Config, DebertaV2Model


class Classifier(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        self.deberta = DebertaV2Model(config)
        self.fc = torch.nn.Linear(config.hidden_size, 1)

    def forward(self, ids, mask):
        h = self.deberta(ids, mask).last_hidden_state
        m = mask.unsqueeze(-1).float()
        return self.fc((h * m).sum(1) / m.sum(1).clamp(min=1e-9))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=512)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    config = DebertaV2Config(
        vocab_size=128100, hidden_size=384, num_hidden_layers=a.layers, num_attention_heads=6,
        intermediate_size=1536, max_position_embeddings=512, type_vocab_size=0,
        relative_attention=True, max_relative_positions=-1, position_buckets=256,
        position_biased_input=False, pos_att_type=["p2c", "c2p"], share_att_key=True,
        norm_rel_ebd="layer_norm", layer_norm_eps=1e-7)
    model = Classifier(config)
    no_decay = ["bias", "LayerNorm.weight"]
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)],
         "weight_decay": 0.01},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)],
         "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=2e-5)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    ids = torch.randint(5, 128000, (a.batch, a.seq))
    mask = torch.ones_like(ids)
    y = torch.randint(0, 2, (a.batch,)).float()
    print(f"PyTorch {torch.__version__}, {a.threads} threads, {a.layers} layers, "
          f"batch {a.batch} x {a.seq} tokens")
    model.train()
    times = []
    for step in range(a.steps + 1):
        t = time.perf_counter()
        loss = loss_fn(model(ids, mask).view(-1), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        secs = time.perf_counter() - t
        print(f"  training step {step}: {secs:.2f} s" + (" (warm-up)" if step == 0 else ""))
        if step:
            times.append(secs)
    s = statistics.median(times)
    print(f"training step: {s:.2f} s median of {a.steps}, {a.batch / s:.2f} sequences/s")
    model.eval()
    times = []
    with torch.no_grad():
        for run in range(a.steps + 1):
            t = time.perf_counter()
            model(ids, mask)
            if run:
                times.append(time.perf_counter() - t)
    s = statistics.median(times)
    print(f"inference: {s:.2f} s per batch, {a.batch / s:.2f} sequences/s")


if __name__ == "__main__":
    main()
