#!/usr/bin/env python3
"""Does bf16 train as well as fp32? The same run (seed, data, steps) in each precision, and
the validation loss of each, side by side.

    python benchmarks/precision_quality.py [--steps 2000] [--hidden 256] [--layers 2]

Defaults: an LSTM 2x256, batch 32 x seq 64, 2,000 steps, on the first 90% of
../shared/corpora/tinyshakespeare.txt, validated on the last 10% (the reference's protocol).
Prints one JSON line per precision and the difference in nats/char.
"""
import argparse
import json
import math
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "corpora", "tinyshakespeare.txt")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--model", default="lstm")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--precisions", default="fp32,bf16")
    args = ap.parse_args()
    sys.path.insert(0, ROOT)
    from charrnn import runtime

    runtime.prepare()
    from charrnn.data.batches import split
    from charrnn.model.config import ModelConfig
    from charrnn.training.config import TrainConfig
    from charrnn.text.sources import read_text
    from charrnn.training.trainer import Trainer
    from charrnn.text.vocab import Vocab

    text = read_text([args.data])
    vocab = Vocab.from_text(text)
    train_ids, val_ids = split(vocab.encode(text), 0.1)
    model_cfg = ModelConfig(args.model, len(vocab), args.hidden, args.layers)
    cfg = TrainConfig(batch=args.batch, seq=args.seq, steps=args.steps, seed=args.seed)
    vals = {}
    for precision in args.precisions.split(","):
        trainer = Trainer.new(model_cfg, cfg, train_ids, val_ids, threads=runtime.thread_count(args.threads),
                              precision=precision)
        trainer.warm_up()
        start = time.perf_counter()
        while not trainer.finished():
            trainer.train_step()
        seconds = time.perf_counter() - start
        val = trainer.evaluate()
        vals[precision] = val
        print(json.dumps(dict(precision=precision, kernel=trainer.kernel, steps=trainer.step,
                              train_loss=round(trainer.train_loss, 5), val_loss=round(val, 5),
                              val_bpc=round(val / math.log(2), 5), train_seconds=round(seconds, 1))), flush=True)
    if len(vals) == 2:
        a, b = vals.values()
        print(json.dumps(dict(difference_nats=round(b - a, 5))))


if __name__ == "__main__":
    main()
