#!/usr/bin/env python3
"""The best recipe a PyTorch user would reach for a character-level LSTM on a CPU: AWD-LSTM's
regularisers (Merity et al. 2017) on PyTorch's fastest CPU path, measured by the protocol of
../../shared/bench/torch_ref.py so benchmarks/quality.py can set it beside charrnn.

    python benchmarks/torch_awd.py --data FILE --hidden 512 --layers 2 --seconds 600 [--bf16]

Same data and validation as torch_ref.py: the vocabulary is the file's sorted characters, the
last --val-frac is held out and scored as 32 contiguous streams with carried state; training
reads --batch contiguous streams, --seq characters at a time, the state carried and detached.
Added on top, as in the AWD-LSTM code:
- weight drop (DropConnect) on each layer's hidden-to-hidden matrix, one mask per step,
  applied by calling nn.LSTM with the dropped matrix (torch.func.functional_call), so the
  oneDNN kernel still runs;
- locked (variational) dropout, one mask per stream per step: on the embedding's output
  (--embed-dropout), between layers and before the head (--locked-dropout);
- AdamW's decoupled weight decay, gradient clipping by total norm;
- a learning rate with linear warmup, then cosine decay to --min-lr-frac of --lr over the
  budget (the fraction of --seconds or --iters spent).
Output: one JSON line on stdout (torch_ref.py's fields); progress on stderr.
"""
import argparse
import json
import math
import os
import sys
import time

VAL_STREAMS, VAL_CHUNK = 32, 512
WARMUP_ITERS_TIMED = 3  # iterations left out of chars/s, as torch_ref.py does

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--data", required=True)
p.add_argument("--hidden", type=int, default=512)
p.add_argument("--layers", type=int, default=2)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--seq", type=int, default=100)
p.add_argument("--lr", type=float, default=2e-3)
p.add_argument("--min-lr-frac", type=float, default=0.05)
p.add_argument("--warmup", type=int, default=100, help="iterations of linear warmup")
p.add_argument("--weight-decay", type=float, default=0.01)
p.add_argument("--weight-drop", type=float, default=0.25)
p.add_argument("--locked-dropout", type=float, default=0.25)
p.add_argument("--embed-dropout", type=float, default=0.1)
p.add_argument("--clip", type=float, default=5.0)
p.add_argument("--seconds", type=float, default=None, help="wall-clock training budget (evaluations excluded)")
p.add_argument("--iters", type=int, default=None)
p.add_argument("--threads", type=int, default=None)
p.add_argument("--bf16", action="store_true", help="forward and loss under torch.autocast(cpu, bfloat16)")
p.add_argument("--val-frac", type=float, default=0.1)
p.add_argument("--eval-at", default="", help="comma list of training seconds at which to also validate")
p.add_argument("--no-val", action="store_true", help="skip the validation at the end (throughput runs)")
p.add_argument("--seed", type=int, default=0)
args = p.parse_args()
if args.seconds is None and args.iters is None:
    p.error("give --seconds or --iters")
if args.threads:  # before torch initialises OpenMP
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.func import functional_call  # noqa: E402

if args.threads:
    torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)


def locked_mask(like, p):
    """One inverted-dropout mask per stream, shared by every step: shape (B, 1, features)."""
    keep = torch.empty(like.shape[0], 1, like.shape[2], device=like.device).bernoulli_(1 - p)
    return keep / (1 - p)


class AWDCharLM(nn.Module):
    def __init__(self, vocab, hidden, layers):
        super().__init__()
        self.emb = nn.Embedding(vocab, hidden)
        self.rnns = nn.ModuleList(nn.LSTM(hidden, hidden, batch_first=True) for _ in range(layers))
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, states):
        h = self.emb(x)
        if self.training and args.embed_dropout:
            h = h * locked_mask(h, args.embed_dropout)
        new_states = []
        for rnn, state in zip(self.rnns, states):
            if self.training and args.weight_drop:
                dropped = F.dropout(rnn.weight_hh_l0, args.weight_drop, training=True)
                h, state = functional_call(rnn, {"weight_hh_l0": dropped}, (h, state), strict=False)
            else:
                h, state = rnn(h, state)
            if self.training and args.locked_dropout:
                h = h * locked_mask(h, args.locked_dropout)
            new_states.append(state)
        return self.head(h), new_states


with open(args.data, encoding="utf-8") as f:
    text = f.read()
chars = sorted(set(text))
V = len(chars)
lut = {c: i for i, c in enumerate(chars)}
data = torch.tensor([lut[c] for c in text], dtype=torch.long)
n_val = int(len(data) * args.val_frac)
train, val = data[:len(data) - n_val], data[len(data) - n_val:]

model = AWDCharLM(V, args.hidden, args.layers)
n_params = sum(t.numel() for t in model.parameters())
matrices = [t for name, t in model.named_parameters() if t.dim() == 2 and not name.startswith("emb")]
others = [t for name, t in model.named_parameters() if not (t.dim() == 2 and not name.startswith("emb"))]
opt = torch.optim.AdamW([dict(params=matrices, weight_decay=args.weight_decay),
                         dict(params=others, weight_decay=0.0)], lr=args.lr)


def zero_states():
    return [None] * args.layers


def evaluate():
    """Mean NLL (nats/char) over the held-out text: VAL_STREAMS streams, carried state."""
    L = (len(val) - 1) // VAL_STREAMS
    xs, ys = val[:VAL_STREAMS * L].view(VAL_STREAMS, L), val[1:VAL_STREAMS * L + 1].view(VAL_STREAMS, L)
    model.eval()
    total, states = 0.0, zero_states()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
        for s in range(0, L, VAL_CHUNK):
            logits, states = model(xs[:, s:s + VAL_CHUNK], states)
            total += F.cross_entropy(logits.reshape(-1, V).float(), ys[:, s:s + VAL_CHUNK].reshape(-1),
                                     reduction="sum").item()
    model.train()
    return total / (VAL_STREAMS * L)


def learning_rate(it, train_s):
    if it < args.warmup:
        return args.lr * (it + 1) / args.warmup
    done = min(1.0, train_s / args.seconds if args.seconds else it / args.iters)
    return args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * done)))


B, T = args.batch, args.seq
n_col = (len(train) - 1) // B
xs_all, ys_all = train[:B * n_col].view(B, n_col), train[1:B * n_col + 1].view(B, n_col)
eval_marks = sorted(float(s) for s in args.eval_at.split(",") if s)
model.train()
it, pos, states, losses, evals = 0, 0, zero_states(), [], []
train_s, t_warm = 0.0, None
while (args.iters is None or it < args.iters) and (args.seconds is None or train_s < args.seconds):
    t0 = time.perf_counter()
    if pos + T > n_col:  # streams exhausted: wrap, reset state
        pos, states = 0, zero_states()
    x, y = xs_all[:, pos:pos + T], ys_all[:, pos:pos + T]
    for group in opt.param_groups:
        group["lr"] = learning_rate(it, train_s)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
        logits, states = model(x, states)
        loss = F.cross_entropy(logits.reshape(-1, V).float(), y.reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if args.clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), args.clip)
    opt.step()
    states = [tuple(s.detach() for s in state) for state in states]
    losses.append(loss.item())
    pos += T
    it += 1
    train_s += time.perf_counter() - t0
    if it == WARMUP_ITERS_TIMED:
        t_warm = train_s
    if eval_marks and train_s >= eval_marks[0]:
        eval_marks.pop(0)
        vl = evaluate()
        evals.append(dict(train_s=round(train_s, 2), iters=it, val_nats=round(vl, 5),
                          val_bpc=round(vl / math.log(2), 5)))
        print(f"[eval] {evals[-1]}", file=sys.stderr, flush=True)
    if it % 500 == 0:
        print(f"[train] it={it} t={train_s:.1f}s loss={sum(losses[-100:]) / len(losses[-100:]):.4f}",
              file=sys.stderr, flush=True)

vl = None if args.no_val else evaluate()
measured = it - WARMUP_ITERS_TIMED
res = dict(impl="torch-awd", torch_version=torch.__version__, bf16=args.bf16, model="lstm", hidden=args.hidden,
           layers=args.layers, batch=B, seq=T, lr=args.lr, min_lr_frac=args.min_lr_frac, warmup=args.warmup,
           weight_decay=args.weight_decay, weight_drop=args.weight_drop, locked_dropout=args.locked_dropout,
           embed_dropout=args.embed_dropout, clip=args.clip, seed=args.seed, threads=torch.get_num_threads(),
           vocab=V, params=n_params, iters=it, train_seconds=round(train_s, 3),
           train_chars_per_sec=round(measured * B * T / (train_s - t_warm), 1) if measured > 0 else None,
           train_loss_last50=round(sum(losses[-50:]) / len(losses[-50:]), 5) if losses else None,
           evals=evals)
if vl is not None:
    res.update(val_loss_nats=round(vl, 5), val_bpc=round(vl / math.log(2), 5))
print(json.dumps(res))
