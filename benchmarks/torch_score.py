#!/usr/bin/env python3
"""PyTorch CPU reference for scoring records (`charrnn score`), on torch_ref.py's protocol.

Data and model as torch_ref.py: vocab = sorted set of characters of --data; Embedding(V, hidden)
-> nn.RNN/LSTM/GRU (layers) -> Linear(hidden, V), initialised from --seed (the weights do not
change the speed). Records: the file's text with newlines read as spaces, cut from its start
into consecutive pieces of 30-120 characters (lengths drawn uniformly by numpy's
default_rng(--seed)), --score bytes of them in all: what benchmarks/charrnn_bench.py --score
scores too. Each record is scored from a zero state, every character after its first
predicted. PyTorch's fastest way: records sorted by length in blocks of --block, batches of
--batch records padded to the batch's longest, one forward under inference_mode (and
autocast bf16 with --bf16), the loss per character by cross_entropy(reduction='none'),
summed per record under a mask. score_chars_per_sec: predicted characters per second of
wall time, after a warm-up batch.
Output: one JSON line on stdout.
"""
import argparse
import json
import os
import time

import numpy as np

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--data", required=True)
p.add_argument("--model", choices=["rnn", "lstm", "gru"], default="lstm")
p.add_argument("--hidden", type=int, default=256)
p.add_argument("--layers", type=int, default=2)
p.add_argument("--score", type=int, default=1 << 20, help="bytes of records to score")
p.add_argument("--batch", type=int, default=256, help="records per forward")
p.add_argument("--block", type=int, default=4096, help="records sorted by length together")
p.add_argument("--threads", type=int, default=None)
p.add_argument("--bf16", action="store_true", help="forward under torch.autocast(cpu, bfloat16)")
p.add_argument("--seed", type=int, default=0)
args = p.parse_args()
if args.threads:  # before torch starts its thread pools
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(args.threads)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

if args.threads:
    torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)


def records_of(text: str, total: int, seed: int) -> list[str]:
    """Consecutive pieces of 30-120 characters of `text` (newlines as spaces), `total` bytes."""
    flat = text.replace("\n", " ")
    rng = np.random.default_rng(seed)
    out, start, size = [], 0, 0
    while size < total:
        n = int(rng.integers(30, 121))
        if start + n > len(flat):
            start = 0
        out.append(flat[start:start + n])
        start += n
        size += len(out[-1].encode("utf-8"))
    return out


class Scorer(nn.Module):
    def __init__(self, vocab: int, kind: str, hidden: int, layers: int):
        super().__init__()
        self.emb = nn.Embedding(vocab, hidden)
        self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind](hidden, hidden, num_layers=layers,
                                                                         batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x):
        out, _ = self.rnn(self.emb(x))
        return self.head(out)


with open(args.data, encoding="utf-8") as f:
    text = f.read()
chars = sorted(set(text.replace("\n", " ")) | {" "})
lookup = {c: i for i, c in enumerate(chars)}
records = records_of(text, args.score, args.seed)
model = Scorer(len(chars), args.model, args.hidden, args.layers).eval()


def score(batch: list[str]) -> np.ndarray:
    """Summed nats of each record of `batch`."""
    longest = max(len(r) for r in batch)
    ids = torch.zeros((len(batch), longest), dtype=torch.long)
    for row, record in enumerate(batch):
        ids[row, :len(record)] = torch.tensor([lookup[c] for c in record])
    lengths = torch.tensor([len(r) for r in batch])
    mask = torch.arange(longest - 1)[None, :] < (lengths[:, None] - 1)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
        logits = model(ids[:, :-1])
        nats = F.cross_entropy(logits.float().reshape(-1, len(chars)), ids[:, 1:].reshape(-1), reduction="none")
    return (nats.reshape(len(batch), -1) * mask).sum(dim=1).numpy()


def score_all(records: list[str]) -> np.ndarray:
    totals = np.zeros(len(records))
    for start in range(0, len(records), args.block):
        block = range(start, min(start + args.block, len(records)))
        order = sorted(block, key=lambda i: len(records[i]))
        for b in range(0, len(order), args.batch):
            rows = order[b:b + args.batch]
            totals[rows] = score([records[i] for i in rows])
    return totals


score(records[:args.batch])  # warm-up: thread pools, oneDNN's primitives
t0 = time.perf_counter()
totals = score_all(records)
seconds = time.perf_counter() - t0
predicted = sum(len(r) - 1 for r in records)
print(json.dumps(dict(impl="torch", torch_version=torch.__version__, bf16=args.bf16, model=args.model,
                      hidden=args.hidden, layers=args.layers, threads=torch.get_num_threads(), records=len(records),
                      score_chars=predicted, score_seconds=round(seconds, 3),
                      score_bits_per_char=round(float(totals.sum() / predicted / np.log(2)), 5),
                      score_chars_per_sec=round(predicted / seconds, 1))))
