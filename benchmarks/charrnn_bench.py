#!/usr/bin/env python3
"""One charrnn run measured the way ../../shared/bench/torch_ref.py measures itself, with the
same flags and the same JSON fields, so benchmarks/run.py can put them side by side.

Training: truncated BPTT over `--batch` streams of the file minus its last `--val-frac`;
`train_chars_per_sec` counts after 3 warm-up steps; `--seconds` is training time only.
Validation: 32 streams over the held-out text, carried state (the reference's protocol).
Sampling: on --threads threads, temperature 1, from a newline, `--sample` characters on each of `--sample-streams`
streams (1: the reference's setting); chars/s counts the characters of all streams.
Precision: charrnn's defaults (auto: bf16 products where the CPU has AMX, bf16 weights for
generation); --precision and --sample-precision choose; the JSON says which kernel ran, and
`isa` the level its kernels were compiled for ($CHARRNN_ISA: see charrnn/kernels/cpu.py).
"""
import argparse
import json
import math
import os
import resource
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join(ROOT, "..", "shared", "corpora", "tinyshakespeare.txt")
WARMUP = 3


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=DEFAULT_DATA)
    p.add_argument("--model", choices=["rnn", "lstm", "gru"], default="lstm")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--seconds", type=float, default=None)
    p.add_argument("--iters", type=int, default=None, help="default 200 when no --seconds")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--val-frac", type=float, default=0.1)
    p.add_argument("--no-val", action="store_true")
    p.add_argument("--eval-at", default="", help="comma list of training seconds at which to also validate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample", type=int, default=0, help="characters to generate per stream")
    p.add_argument("--sample-streams", type=int, default=1, help="streams generated together")
    p.add_argument("--precision", choices=["fp32", "bf16", "auto"], default="auto",
                   help="the training products (charrnn train's default: auto)")
    p.add_argument("--sample-precision", choices=["fp32", "bf16", "int8", "auto"], default="auto",
                   help="the weights generation reads (charrnn sample's default: auto, that is bf16)")
    p.add_argument("--engine", choices=["charrnn", "torch"], default="charrnn",
                   help="torch: charrnn's PyTorch engine on the CPU (throughput only: with --no-val, no --sample)")
    p.add_argument("--save", help="write a charrnn checkpoint here")
    p.add_argument("--score", type=int, default=0, help="bytes of 30-120-character records to score as `charrnn "
                   "score` does (benchmarks/torch_score.py's protocol)")
    return p.parse_args()


def main():
    args = parse_args()
    if args.engine == "torch" and not (args.no_val and not args.sample and not args.save):
        sys.exit("charrnn_bench.py: --engine torch measures training throughput only (--no-val, no --sample or --save)")
    sys.path.insert(0, ROOT)
    from charrnn import runtime

    runtime.prepare()
    threads = runtime.thread_count(args.threads)
    import numpy as np

    from charrnn import __version__
    from charrnn.runs import checkpoint
    from charrnn.training import record
    from charrnn.data.batches import split
    from charrnn.model.config import ModelConfig
    from charrnn.training.config import TrainConfig
    from charrnn.generate.options import generation_weights
    from charrnn.generate.sampler import Sampler
    from charrnn.text.sources import read_text
    from charrnn.training.trainer import Trainer, evaluate_ids
    from charrnn.text.vocab import Vocab

    text = read_text([args.data])
    vocab = Vocab.from_text(text)
    train_ids, val_ids = split(vocab.encode(text), args.val_frac)
    model_cfg = ModelConfig(cell=args.model, vocab_size=len(vocab), hidden=args.hidden, layers=args.layers,
                            dropout=args.dropout)
    iters = args.iters if args.iters is not None else (None if args.seconds else 200)
    cfg = TrainConfig(batch=args.batch, seq=args.seq, lr=args.lr, clip=args.clip, steps=iters,
                      seconds=args.seconds, val_frac=args.val_frac, seed=args.seed)
    if args.engine == "torch":
        from charrnn.training import torch_engine

        torch_engine.start("cpu", threads)
        trainer = torch_engine.TorchTrainer.new(model_cfg, cfg, train_ids, val_ids, threads=threads,
                                                precision=args.precision, device="cpu")
    else:
        trainer = Trainer.new(model_cfg, cfg, train_ids, val_ids, threads=threads, precision=args.precision)
    trainer.warm_up()  # kernels compiled (or loaded) before the clock: --seconds is training time only
    marks = sorted(float(s) for s in args.eval_at.split(",") if s)
    evals, losses, t_warm = [], [], None
    while iters != 0 and not trainer.finished():
        report = trainer.train_step()
        losses.append(report.loss)
        if trainer.step == WARMUP:
            t_warm = trainer.train_seconds
        if marks and trainer.train_seconds >= marks[0]:
            marks.pop(0)
            total, count = evaluate_ids(trainer.model, val_ids)
            evals.append(dict(train_s=round(trainer.train_seconds, 2), iters=trainer.step,
                              val_nats=round(total / count, 5), val_bpc=round(total / count / math.log(2), 5)))
            print(f"[eval] {evals[-1]}", file=sys.stderr, flush=True)
    res = dict(impl="charrnn", engine=args.engine, charrnn_version=__version__, model=args.model, hidden=args.hidden,
               layers=args.layers, dropout=args.dropout, batch=args.batch, seq=args.seq, lr=args.lr, clip=args.clip,
               seed=args.seed, threads=threads, openblas_coretype=os.environ.get("OPENBLAS_CORETYPE"),
               precision=trainer.precision, kernel=trainer.kernel, isa=trainer.isa,
               vocab=len(vocab), params=model_cfg.n_params(), iters=trainer.step,
               train_seconds=round(trainer.train_seconds, 3))
    measured = trainer.step - WARMUP
    if measured > 0:
        res["train_chars_per_sec"] = round(measured * args.batch * args.seq / (trainer.train_seconds - t_warm), 1)
    if losses:
        res["train_loss_last50"] = round(float(np.mean(losses[-50:])), 5)
    if evals:
        res["evals"] = evals
    if not args.no_val:
        t0 = time.perf_counter()
        total, count = evaluate_ids(trainer.model, val_ids)
        res.update(val_loss_nats=round(total / count, 5), val_bpc=round(total / count / math.log(2), 5),
                   val_chars_scored=count, val_eval_seconds=round(time.perf_counter() - t0, 2))
    if args.save:
        tensors, meta = trainer.snapshot()
        meta = record.run_meta(meta, vocab=vocab, data=dict(sources=[args.data], chars=len(text), ids_sha256=""),
                               run="bench", run_id="0" * 16, threads=threads, precision=trainer.precision,
                               kernel=trainer.kernel, isa=trainer.isa, engine=args.engine,
                               save_every=("steps", trainer.step), keep=1, changes=[])
        checkpoint.save(args.save, tensors, meta)
    if args.sample > 0:
        weights = generation_weights(args.sample_precision)
        sampler = Sampler(trainer.model, batch=args.sample_streams, threads=threads, weights=weights)
        sampler.feed(vocab.encode("\n"))
        rng = np.random.default_rng(args.seed)
        for _ in sampler.generate(10, rng):  # loads (or compiles) the kernels; cold start is its own line
            pass
        t0 = time.perf_counter()
        for _ in sampler.generate(args.sample, rng, chunk=256):
            pass
        chars = args.sample * args.sample_streams
        res.update(sample_chars=chars, sample_streams=args.sample_streams, sample_weights=weights,
                   sample_chars_per_sec=round(chars / (time.perf_counter() - t0), 1))
    if args.score > 0:
        res.update(score(trainer.model, vocab, text, args))
    res["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(res))


def score_records_of(text: str, total: int, seed: int) -> list[str]:
    """torch_score.py's records: consecutive pieces of 30-120 characters of `text` (newlines as
    spaces), `total` bytes, lengths drawn by numpy's default_rng(seed)."""
    import numpy as np

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


def score(trained, vocab, text, args) -> dict:
    """`charrnn score`'s scoring of the records (reset context) with the model's products in
    --precision: predicted characters per second of wall time, after a warm-up."""
    from charrnn.generate.record_scoring import score_records
    from charrnn.model.network import Model

    model = Model(trained.config, threads=trained.threads, precision=args.precision)
    model.flat[...] = trained.flat
    records = score_records_of(text, args.score, args.seed)
    for _ in score_records(model, vocab, records[:256]):  # warm-up: kernels, workspaces
        pass
    t0 = time.perf_counter()
    nats = sum(result["nats"] for result in score_records(model, vocab, records))
    seconds = time.perf_counter() - t0
    predicted = sum(len(r) - 1 for r in records)
    return dict(records=len(records), score_chars=predicted, score_seconds=round(seconds, 3),
                score_kernel=model.kernel, score_bits_per_char=round(nats / predicted / math.log(2), 5),
                score_chars_per_sec=round(predicted / seconds, 1))


if __name__ == "__main__":
    main()
