"""The ETM's training step in plain PyTorch, as the paper's code writes it (dense bags of words,
nn.Linear encoder), on the same NYT corpus and sizes as `benches/throughput.rs`: the baseline of
the example's speed goal.

    pip install torch numpy
    python examples/etm/benches/pytorch_etm.py [data/nyt] [--threads 2] [--batches 1000 64]

Prints training documents per second (median epoch after the first) for batch 1000 and 64.
"""

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def read_ldac(path, vocab_size):
    docs = []
    with open(path) as f:
        for line in f:
            fields = line.split()
            if not fields or fields[0] == "0":
                continue
            ids, counts = zip(*(map(int, p.split(":")) for p in fields[1:]))
            docs.append((np.array(ids), np.array(counts, dtype=np.float32)))
    assert all(ids.max() < vocab_size for ids, _ in docs)
    return docs


class ETM(nn.Module):
    """The original ETM (Dieng, Ruiz & Blei 2020) model code, trainable embeddings."""

    def __init__(self, num_topics, vocab_size, t_hidden_size, rho_size):
        super().__init__()
        self.rho = nn.Linear(rho_size, vocab_size, bias=False)
        self.alphas = nn.Linear(rho_size, num_topics, bias=False)
        self.q_theta = nn.Sequential(
            nn.Linear(vocab_size, t_hidden_size),
            nn.ReLU(),
            nn.Linear(t_hidden_size, t_hidden_size),
            nn.ReLU(),
        )
        self.mu_q_theta = nn.Linear(t_hidden_size, num_topics)
        self.logsigma_q_theta = nn.Linear(t_hidden_size, num_topics)

    def forward(self, bows, normalized_bows):
        q_theta = self.q_theta(normalized_bows)
        mu, logsigma = self.mu_q_theta(q_theta), self.logsigma_q_theta(q_theta)
        kl = -0.5 * torch.sum(1 + logsigma - mu.pow(2) - logsigma.exp(), dim=-1).mean()
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logsigma)
        theta = F.softmax(z, dim=-1)
        beta = F.softmax(self.alphas(self.rho.weight), dim=0).transpose(1, 0)
        preds = torch.log(torch.mm(theta, beta) + 1e-6)
        return -(preds * bows).sum(1).mean(), kl


def dense_batch(docs, vocab_size):
    """The paper code's get_batch: a dense documents × vocabulary count matrix."""
    batch = torch.zeros(len(docs), vocab_size)
    for row, (ids, counts) in enumerate(docs):
        batch[row, ids] = torch.from_numpy(counts)
    return batch


def measure(docs, vocab_size, batch_size, epochs):
    torch.manual_seed(1)
    model = ETM(50, vocab_size, 800, 300)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005, weight_decay=1.2e-6)
    rng = np.random.default_rng(1)
    steps = len(docs) // batch_size
    times = []
    for _ in range(epochs):
        order = rng.permutation(len(docs))
        start = time.perf_counter()
        for step in range(steps):
            picked = [docs[i] for i in order[step * batch_size : (step + 1) * batch_size]]
            bows = dense_batch(picked, vocab_size)
            normalized = bows / bows.sum(1, keepdim=True)
            optimizer.zero_grad()
            recon, kl = model(bows, normalized)
            (recon + kl).backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    return steps * batch_size, statistics.median(times[1:])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", nargs="?", default="data/nyt")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, nargs="*", default=[1000, 64])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with open(f"{args.data_dir}/nyt.tokens") as f:
        vocab_size = sum(1 for _ in f)
    docs = read_ldac(f"{args.data_dir}/nyt.ldac", vocab_size)
    # The same 85% training share as the Rust benchmark's split.
    train = docs[: int(len(docs) * 0.85)]
    print(f"PyTorch {torch.__version__}, {args.threads} threads; ETM K 50, rho 300, hidden 800, Adam")
    for batch_size, epochs in [(1000, 10), (64, 3)]:
        if batch_size not in args.batches:
            continue
        n, secs = measure(train, vocab_size, batch_size, epochs)
        print(f"batch {batch_size:4}: {n / secs:8.0f} training documents/s, {secs:.2f} s per epoch ({n} documents)")


if __name__ == "__main__":
    main()
