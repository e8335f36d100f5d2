#!/usr/bin/env python3
"""Training and sampling speed against the vocabulary size, for one model shape.

    python benchmarks/vocab_size.py [--vocab 100,2000] [--hidden 256] [--layers 2] [--steps 40]
                                    [--sample 3000] [--threads N] [--reps 3] [--json]

For each V it makes a synthetic text with exactly V distinct characters (V - 2 Korean
syllables from U+AC00 with Zipf-like frequencies, space and newline), then measures with
the library (what `charrnn train` and `charrnn sample` run, without the file handling):

  train   chars/s of Trainer.train_step (batch x seq chars per step) after warm-up steps
  head    the share of a training step spent in the head's kernels (head_forward_backward
          and head_backward, timed alone on the same shapes): the part that grows with V
  sample  chars/s of Sampler.generate, one stream, temperature 1 (the plain path)
  argmax  the same at temperature 0, which takes the largest logit without exponentials:
          the difference to `sample` is what the softmax and the draw cost per character
          (the head's product, which grows with V, is in both)

Every figure is the median of --reps repetitions; the ratio line compares each V with the
first. The target (issue 6): V = 2000 within 2x of V = 100 for LSTM 2x256, train and sample.
Run it on a quiet machine: other processes on the cores change the figures.
"""
import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def synthetic_text(V: int, n: int, seed: int = 0) -> str:
    import numpy as np

    rng = np.random.default_rng(seed)
    symbols = np.array([chr(0xAC00 + i) for i in range(V - 2)] + [" ", "\n"])
    weights = 1.0 / np.arange(1, V + 1) ** 0.8
    weights[-2:] = weights[0] * np.array([2.0, 0.3])  # spaces often, newlines now and then
    weights /= weights.sum()
    picks = rng.choice(V, size=n, p=weights)
    picks[:V] = rng.permutation(V)  # every symbol occurs
    return "".join(symbols[picks].tolist())


def median_rate(fn, reps: int) -> float:
    """Median over reps of units/seconds, fn() returning (units, seconds)."""
    rates = []
    for _ in range(reps):
        units, seconds = fn()
        rates.append(units / seconds)
    return statistics.median(rates)


def measure(V: int, args) -> dict:
    import numpy as np

    from charrnn.model.config import ModelConfig
    from charrnn.training.config import TrainConfig
    from charrnn.data.batches import split
    from charrnn.kernels.gemm import scratch_size
    from charrnn.kernels.head import head_backward, head_forward_backward
    from charrnn.generate.sampler import Sampler
    from charrnn.training.trainer import Trainer
    from charrnn.text.vocab import Vocab

    text = synthetic_text(V, args.chars)
    vocab = Vocab.from_text(text)
    assert len(vocab) == V
    train_ids, val_ids = split(vocab.encode(text).astype(np.uint16), 0.01)
    model_cfg = ModelConfig(cell=args.model, vocab_size=V, hidden=args.hidden, layers=args.layers)
    cfg = TrainConfig(batch=args.batch, seq=args.seq, steps=None, seed=0)
    trainer = Trainer.new(model_cfg, cfg, train_ids, val_ids, threads=args.threads)
    for _ in range(args.warmup):
        trainer.train_step()

    def train_once():
        seconds = sum(trainer.train_step().seconds for _ in range(args.steps))
        return args.steps * args.batch * args.seq, seconds

    train = median_rate(train_once, args.reps)

    # the head alone on one shard of a training step (the shards run side by side)
    N, H = args.batch // args.threads * args.seq, args.hidden
    rng = np.random.default_rng(1)
    h = rng.standard_normal((N, H)).astype(np.float32)
    w = (rng.standard_normal((V, H)) * 0.05).astype(np.float32)
    b = np.zeros(V, np.float32)
    targets = rng.integers(0, V, N).astype(np.int32)
    logits, dlogits = np.zeros((N, V), np.float32), np.zeros((N, V), np.float32)
    dh, dw, db = np.zeros((N, H), np.float32), np.zeros((V, H), np.float32), np.zeros(V, np.float32)
    scratch = np.zeros(max(scratch_size(*mnk, np.float32) for mnk in ((N, V, H), (N, H, V), (V, H, N))), np.float32)

    def head_once():
        start = time.perf_counter()
        for _ in range(args.steps):
            head_forward_backward(dlogits, logits, h, w, b, targets, 1.0 / N, scratch)
            head_backward(dh, dw, db, dlogits, h, w, scratch)
        return args.steps, time.perf_counter() - start

    head_once()
    head_seconds = 1 / median_rate(head_once, args.reps)
    step_seconds = args.batch * args.seq / train

    sampler = Sampler(trainer.model)
    sampler.feed([0])
    sample_rng = np.random.default_rng(0)

    def sample_once(temperature=1.0):
        start = time.perf_counter()
        for _ in sampler.generate(args.sample, sample_rng, temperature, chunk=256):
            pass
        return args.sample, time.perf_counter() - start

    sample_once()
    sample = median_rate(sample_once, args.reps)
    argmax = median_rate(lambda: sample_once(0.0), args.reps)
    return dict(V=V, train_chars_per_sec=round(train, 1),
                head_share_of_train_step=round(head_seconds / step_seconds, 3),
                sample_chars_per_sec=round(sample, 1), argmax_chars_per_sec=round(argmax, 1),
                softmax_share_of_sample=round(1 - sample / argmax, 3))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--vocab", default="100,2000", help="comma-separated vocabulary sizes")
    p.add_argument("--model", choices=["rnn", "lstm", "gru"], default="lstm")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--steps", type=int, default=40, help="training steps per repetition")
    p.add_argument("--warmup", type=int, default=3, help="training steps before measuring")
    p.add_argument("--sample", type=int, default=3000, help="characters generated per repetition")
    p.add_argument("--chars", type=int, default=1_000_000, help="length of the synthetic text")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="training threads (default: all cores)")
    p.add_argument("--json", action="store_true", help="one JSON object per V instead of a table")
    args = p.parse_args()

    sys.path.insert(0, ROOT)
    from charrnn import runtime

    runtime.prepare()
    args.threads = runtime.thread_count(args.threads)
    rows = [measure(int(v), args) for v in args.vocab.split(",")]
    if args.json:
        for row in rows:
            print(json.dumps(dict(row, model=args.model, hidden=args.hidden, layers=args.layers, batch=args.batch,
                                  seq=args.seq, threads=args.threads)))
        return
    print(f"{args.model.upper()} {args.layers}x{args.hidden}, batch {args.batch} x seq {args.seq}, "
          f"{args.threads} training thread(s), sampling on one stream; medians of {args.reps}")
    print(f"{'V':>6} {'train chars/s':>14} {'head share':>11} {'sample chars/s':>15} {'argmax chars/s':>15} "
          f"{'softmax share':>14}")
    for r in rows:
        print(f"{r['V']:>6} {r['train_chars_per_sec']:>14,.0f} {r['head_share_of_train_step']:>11.0%} "
              f"{r['sample_chars_per_sec']:>15,.0f} {r['argmax_chars_per_sec']:>15,.0f} "
              f"{r['softmax_share_of_sample']:>14.0%}")
    first = rows[0]
    for r in rows[1:]:
        print(f"V={r['V']} vs V={first['V']}: train {first['train_chars_per_sec'] / r['train_chars_per_sec']:.2f}x "
              f"slower, sample {first['sample_chars_per_sec'] / r['sample_chars_per_sec']:.2f}x slower "
              "(target: within 2x)")


if __name__ == "__main__":
    main()
