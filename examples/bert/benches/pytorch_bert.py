"""PyTorch baseline for `cargo bench -p bert --bench training_step`: BertForPreTraining at the
same sizes (BERT-mini 4 × 256 and MiniLM-L6 6 × 384, vocabulary 30,522), batch 32 × 128, ~15%
of tokens masked, MLM + NSP cross-entropy, AdamW, CPU threads fixed. Two variants of the MLM
head: over the masked positions only (the same work as the Rust step, and as original BERT),
and over every position (what `BertForPreTraining(labels=...)` does).

    python examples/bert/benches/pytorch_bert.py [--steps 5] [--threads 2]
"""
import argparse
import statistics
import time

import torch
from transformers import BertConfig, BertForPreTraining

VOCAB = 30522


def batch(generator):
    ids = torch.randint(1000, VOCAB, (32, 128), generator=generator)
    ids[:, 0], ids[:, 63], ids[:, 127] = 101, 102, 102
    types = torch.zeros_like(ids)
    types[:, 64:] = 1
    chosen = torch.rand(ids.shape, generator=generator) < 0.15
    chosen[:, [0, 63, 127]] = False
    labels = ids[chosen].clone()
    ids = ids.clone()
    ids[chosen] = 103
    nsp = torch.randint(0, 2, (32,), generator=generator)
    return ids, types, chosen, labels, nsp


def bench(name, config, steps, masked_only):
    torch.manual_seed(1)
    model = BertForPreTraining(config).train()
    no_decay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not ("bias" in n or "LayerNorm" in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
        lr=1e-4,
    )
    ids, types, chosen, labels, nsp = batch(torch.Generator().manual_seed(7))
    mask = torch.ones_like(ids)
    ce = torch.nn.CrossEntropyLoss()
    times = []
    for step in range(steps + 1):
        start = time.perf_counter()
        if masked_only:
            out = model.bert(input_ids=ids, attention_mask=mask, token_type_ids=types)
            scores = model.cls.predictions(out.last_hidden_state[chosen])
            relationship = model.cls.seq_relationship(out.pooler_output)
            loss = ce(scores, labels) + ce(relationship, nsp)
        else:
            full = torch.full_like(ids, -100)
            full[chosen] = labels
            loss = model(
                input_ids=ids, attention_mask=mask, token_type_ids=types,
                labels=full, next_sentence_label=nsp,
            ).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step > 0:
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    tokens = ids.numel()
    head = "masked positions" if masked_only else "every position"
    print(f"{name}, MLM head over {head}: training step {median:.3f} s median of {steps}, "
          f"{tokens / median:.0f} tokens/s")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(f"PyTorch {torch.__version__}, {a.threads} threads")
    sizes = [("BERT-mini (4 × 256)", 256, 4, 4, 1024), ("MiniLM-L6 (6 × 384)", 384, 6, 12, 1536)]
    for name, hidden, layers, heads, ffn in sizes:
        config = BertConfig(vocab_size=VOCAB, hidden_size=hidden, num_hidden_layers=layers,
                            num_attention_heads=heads, intermediate_size=ffn)
        for masked_only in (True, False):
            bench(name, config, a.steps, masked_only)


if __name__ == "__main__":
    main()
